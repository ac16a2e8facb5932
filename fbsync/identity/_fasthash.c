/*
 * fbsync.identity._fasthash: SHA-256 of every line of a buffer, in one call.
 *
 * Optional speed-up for the identity engine's hot path (docs/identity.md, "Speed").
 * hashlib costs ~350 ns per short value, mostly per-call set-up (a new EVP context,
 * a provider look-up, a Python object); OpenSSL's SHA-256 itself takes ~55 ns per
 * 64-byte block on a CPU with SHA extensions.  This module hashes a whole
 * newline-separated column with OpenSSL (GIL released) and returns the lowercase
 * hex digests as a list of str.  Same bytes in, same digests out as
 * hashlib.sha256(line).hexdigest() (property-tested); when the module cannot be
 * built (no compiler or no OpenSSL headers) fbsync uses hashlib and the results
 * are identical.
 *
 * sha256_hex_lines(data, prefix=b"", keep_last=0) -> list[str]
 *     For each line of data (split on b"\n", like bytes.split: n newlines give
 *     n + 1 lines), the SHA-256 of prefix + line, where line is first cut to its
 *     last keep_last bytes when keep_last > 0 and the line is longer.
 *
 * seal_rows(fp_key, aes_key, prefix, rows, nonces) -> list[tuple[bytes, bytes]]
 *     For the state store (fbsync.state.crypto.RowCipher.pairs): per row (a bytes), the first
 *     16 bytes of HMAC-SHA256(fp_key, prefix + row), and nonce + AES-256-GCM(aes_key, nonce, row)
 *     + its 16-byte tag, nonce being the row's 12 bytes of nonces (drawn by the caller from
 *     os.urandom).  Same bytes as hmac.digest and cryptography's AESGCM.encrypt (tested).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The one-shot SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP,
 * whose per-call provider dispatch costs ~200 ns: the very cost avoided here. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <openssl/evp.h>

static char hex_pairs[512];

static PyObject *
sha256_hex_lines(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"data", "prefix", "keep_last", NULL};
    Py_buffer data, prefix = {0};
    Py_ssize_t keep_last = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|y*n", names, &data, &prefix, &keep_last)) {
        return NULL;
    }
    const unsigned char *buf = data.buf;
    const Py_ssize_t size = data.len;
    Py_ssize_t lines = 1;
    for (const unsigned char *p = buf; (p = memchr(p, '\n', size - (p - buf))) != NULL; p++) {
        lines++;
    }
    unsigned char *digests = PyMem_Malloc((size_t)lines * SHA256_DIGEST_LENGTH);
    PyObject *out = digests ? PyList_New(lines) : NULL;
    if (out == NULL) {
        PyMem_Free(digests);
        PyBuffer_Release(&data);
        if (prefix.obj) PyBuffer_Release(&prefix);
        return digests ? NULL : PyErr_NoMemory();
    }
    const unsigned char *head = prefix.obj ? prefix.buf : NULL;
    const Py_ssize_t head_len = prefix.obj ? prefix.len : 0;

    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t start = 0;
    unsigned char *digest = digests;
    for (Py_ssize_t line = 0; line < lines; line++) {
        const unsigned char *end = memchr(buf + start, '\n', size - start);
        const Py_ssize_t stop = end ? end - buf : size;
        const unsigned char *value = buf + start;
        Py_ssize_t len = stop - start;
        if (keep_last > 0 && len > keep_last) {
            value += len - keep_last;
            len = keep_last;
        }
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        if (head_len) SHA256_Update(&ctx, head, (size_t)head_len);
        SHA256_Update(&ctx, value, (size_t)len);
        SHA256_Final(digest, &ctx);
        digest += SHA256_DIGEST_LENGTH;
        start = stop + 1;
    }
    Py_END_ALLOW_THREADS

    PyBuffer_Release(&data);
    if (prefix.obj) PyBuffer_Release(&prefix);
    for (Py_ssize_t line = 0; line < lines; line++) {
        PyObject *text = PyUnicode_New(2 * SHA256_DIGEST_LENGTH, 127);
        if (text == NULL) {
            Py_DECREF(out);
            PyMem_Free(digests);
            return NULL;
        }
        Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text);
        const unsigned char *bytes = digests + line * SHA256_DIGEST_LENGTH;
        for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
            memcpy(chars + 2 * i, hex_pairs + 2 * bytes[i], 2);
        }
        PyList_SET_ITEM(out, line, text);
    }
    PyMem_Free(digests);
    return out;
}

/* HMAC-SHA256 with the key's inner and outer states computed once (RFC 2104). */
typedef struct {
    SHA256_CTX inner, outer;
} hmac_state;

static void
hmac_prepare(hmac_state *h, const unsigned char *key, size_t key_len)
{
    unsigned char block[64] = {0}, pad[64];
    if (key_len > 64) {
        SHA256(key, key_len, block);
    } else {
        memcpy(block, key, key_len);
    }
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&h->inner);
    SHA256_Update(&h->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&h->outer);
    SHA256_Update(&h->outer, pad, 64);
}

static void
hmac_digest(const hmac_state *h, const unsigned char *head, size_t head_len, const unsigned char *msg,
            size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256_CTX ctx = h->inner;
    unsigned char inner[SHA256_DIGEST_LENGTH];
    SHA256_Update(&ctx, head, head_len);
    SHA256_Update(&ctx, msg, len);
    SHA256_Final(inner, &ctx);
    ctx = h->outer;
    SHA256_Update(&ctx, inner, SHA256_DIGEST_LENGTH);
    SHA256_Final(out, &ctx);
}

static PyObject *
seal_rows(PyObject *self, PyObject *args)
{
    Py_buffer fp_key, aes_key, prefix, nonces;
    PyObject *rows;
    if (!PyArg_ParseTuple(args, "y*y*y*O!y*", &fp_key, &aes_key, &prefix, &PyList_Type, &rows, &nonces)) {
        return NULL;
    }
    PyObject *out = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    unsigned char *sealed = NULL;
    const Py_ssize_t n = PyList_GET_SIZE(rows);
    if (aes_key.len != 32 || nonces.len != 12 * n) {
        PyErr_SetString(PyExc_ValueError, "seal_rows: a 32-byte AES key and 12 bytes of nonce per row");
        goto done;
    }
    hmac_state mac;
    hmac_prepare(&mac, fp_key.buf, (size_t)fp_key.len);
    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, aes_key.buf, NULL) != 1) {
        PyErr_SetString(PyExc_RuntimeError, "seal_rows: OpenSSL could not set up AES-256-GCM");
        goto done;
    }
    out = PyList_New(n);
    if (out == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyBytes_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "seal_rows: every row must be bytes");
            Py_CLEAR(out);
            goto done;
        }
        const unsigned char *msg = (const unsigned char *)PyBytes_AS_STRING(row);
        const Py_ssize_t len = PyBytes_GET_SIZE(row);
        const unsigned char *nonce = (const unsigned char *)nonces.buf + 12 * i;
        unsigned char digest[SHA256_DIGEST_LENGTH];
        hmac_digest(&mac, prefix.buf, (size_t)prefix.len, msg, (size_t)len, digest);
        PyObject *blob = PyBytes_FromStringAndSize(NULL, 12 + len + 16);
        PyObject *fp = PyBytes_FromStringAndSize((const char *)digest, 16);
        PyObject *pair = (blob && fp) ? PyTuple_New(2) : NULL;
        if (pair == NULL) {
            Py_XDECREF(blob);
            Py_XDECREF(fp);
            Py_CLEAR(out);
            goto done;
        }
        sealed = (unsigned char *)PyBytes_AS_STRING(blob);
        memcpy(sealed, nonce, 12);
        int outl = 0, finl = 0;
        if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1
            || EVP_EncryptUpdate(ctx, sealed + 12, &outl, msg, (int)len) != 1
            || EVP_EncryptFinal_ex(ctx, sealed + 12 + outl, &finl) != 1
            || outl + finl != len
            || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, sealed + 12 + len) != 1) {
            Py_DECREF(blob);
            Py_DECREF(fp);
            Py_DECREF(pair);
            Py_CLEAR(out);
            PyErr_SetString(PyExc_RuntimeError, "seal_rows: OpenSSL failed to encrypt a row");
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, fp);
        PyTuple_SET_ITEM(pair, 1, blob);
        PyList_SET_ITEM(out, i, pair);
    }
done:
    EVP_CIPHER_CTX_free(ctx);
    PyBuffer_Release(&fp_key);
    PyBuffer_Release(&aes_key);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&nonces);
    return out;
}

static PyMethodDef methods[] = {
    {"sha256_hex_lines", (PyCFunction)(void (*)(void))sha256_hex_lines, METH_VARARGS | METH_KEYWORDS,
     "sha256_hex_lines(data, prefix=b'', keep_last=0) -> list[str]: lowercase hex SHA-256 of "
     "prefix + each line of data (its last keep_last bytes when keep_last > 0)."},
    {"seal_rows", seal_rows, METH_VARARGS,
     "seal_rows(fp_key, aes_key, prefix, rows, nonces) -> list[tuple[bytes, bytes]]: per row, "
     "HMAC-SHA256(fp_key, prefix + row)[:16] and nonce + AES-256-GCM(aes_key, nonce, row) + tag."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fasthash",
    "SHA-256 of every line of a buffer through OpenSSL (optional speed-up of fbsync.identity).",
    -1, methods,
};

PyMODINIT_FUNC
PyInit__fasthash(void)
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 256; i++) {
        hex_pairs[2 * i] = digits[i >> 4];
        hex_pairs[2 * i + 1] = digits[i & 15];
    }
    return PyModule_Create(&module);
}
