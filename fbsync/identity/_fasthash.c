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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The one-shot SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP,
 * whose per-call provider dispatch costs ~200 ns: the very cost avoided here. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

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

static PyMethodDef methods[] = {
    {"sha256_hex_lines", (PyCFunction)(void (*)(void))sha256_hex_lines, METH_VARARGS | METH_KEYWORDS,
     "sha256_hex_lines(data, prefix=b'', keep_last=0) -> list[str]: lowercase hex SHA-256 of "
     "prefix + each line of data (its last keep_last bytes when keep_last > 0)."},
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
