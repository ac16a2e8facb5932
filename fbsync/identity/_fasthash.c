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
 *
 * For hashing Arrow columns without a Python string per value (fbsync.sources.columnar):
 * ascii_lines (an Arrow string array's stripped ASCII values, newline-joined), email_suspects
 * (the lines EMAIL_FAST_LINE does not match), line_numbers (empty or non-empty lines),
 * sha256_hex_block (sha256_hex_lines' digests in one buffer of 64-byte fields), csv_rows
 * (CSV lines from such buffers), field_rows (their rows as tuples of str) and seal_fields (seal_rows
 * over such rows, for a plan's staging).  Each is described where it is defined and tested against its
 * Python reference.
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

/* The SHA-256 of prefix + each of the `lines` lines of buf (see sha256_hex_lines), into digests. */
static void
digest_lines(const unsigned char *buf, Py_ssize_t size, Py_ssize_t lines, const unsigned char *head,
             Py_ssize_t head_len, Py_ssize_t keep_last, unsigned char *digests)
{
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
}

static Py_ssize_t
count_lines(const unsigned char *buf, Py_ssize_t size)
{
    Py_ssize_t lines = 1;
    for (const unsigned char *p = buf; (p = memchr(p, '\n', size - (p - buf))) != NULL; p++) {
        lines++;
    }
    return lines;
}

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
    const Py_ssize_t lines = count_lines(buf, size);
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
    digest_lines(buf, size, lines, head, head_len, keep_last, digests);
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

/* One row sealed: the first 16 bytes of HMAC-SHA256(key, head + msg) into fp, and nonce + AES-256-GCM(msg)
 * + its 16-byte tag into sealed (12 + len + 16 bytes).  0 when OpenSSL fails. */
static int
seal_one(EVP_CIPHER_CTX *ctx, const hmac_state *mac, const unsigned char *head, size_t head_len,
         const unsigned char *msg, size_t len, const unsigned char *nonce, unsigned char *fp, unsigned char *sealed)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    hmac_digest(mac, head, head_len, msg, len, digest);
    memcpy(fp, digest, 16);
    memcpy(sealed, nonce, 12);
    int outl = 0, finl = 0;
    return EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, nonce) == 1
           && EVP_EncryptUpdate(ctx, sealed + 12, &outl, msg, (int)len) == 1
           && EVP_EncryptFinal_ex(ctx, sealed + 12 + outl, &finl) == 1 && (size_t)(outl + finl) == len
           && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, sealed + 12 + len) == 1;
}

/* A cipher context for seal_one with the AES key set, or NULL with an exception set. */
static EVP_CIPHER_CTX *
gcm_context(const Py_buffer *aes_key, const char *who)
{
    if (aes_key->len != 32) {
        PyErr_Format(PyExc_ValueError, "%s: a 32-byte AES key", who);
        return NULL;
    }
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, aes_key->buf, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        PyErr_Format(PyExc_RuntimeError, "%s: OpenSSL could not set up AES-256-GCM", who);
        return NULL;
    }
    return ctx;
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
    const Py_ssize_t n = PyList_GET_SIZE(rows);
    if (nonces.len != 12 * n) {
        PyErr_SetString(PyExc_ValueError, "seal_rows: 12 bytes of nonce per row");
        goto done;
    }
    hmac_state mac;
    hmac_prepare(&mac, fp_key.buf, (size_t)fp_key.len);
    if ((ctx = gcm_context(&aes_key, "seal_rows")) == NULL) goto done;
    out = PyList_New(n);
    if (out == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        if (!PyBytes_Check(row)) {
            PyErr_SetString(PyExc_TypeError, "seal_rows: every row must be bytes");
            Py_CLEAR(out);
            goto done;
        }
        const Py_ssize_t len = PyBytes_GET_SIZE(row);
        PyObject *blob = PyBytes_FromStringAndSize(NULL, 12 + len + 16);
        PyObject *fp = PyBytes_FromStringAndSize(NULL, 16);
        PyObject *pair = (blob && fp) ? PyTuple_New(2) : NULL;
        if (pair == NULL) {
            Py_XDECREF(blob);
            Py_XDECREF(fp);
            Py_CLEAR(out);
            goto done;
        }
        PyTuple_SET_ITEM(pair, 0, fp);
        PyTuple_SET_ITEM(pair, 1, blob);
        PyList_SET_ITEM(out, i, pair);
        if (!seal_one(ctx, &mac, prefix.buf, (size_t)prefix.len, (const unsigned char *)PyBytes_AS_STRING(row),
                      (size_t)len, (const unsigned char *)nonces.buf + 12 * i,
                      (unsigned char *)PyBytes_AS_STRING(fp), (unsigned char *)PyBytes_AS_STRING(blob))) {
            Py_CLEAR(out);
            PyErr_SetString(PyExc_RuntimeError, "seal_rows: OpenSSL failed to encrypt a row");
            goto done;
        }
    }
done:
    EVP_CIPHER_CTX_free(ctx);
    PyBuffer_Release(&fp_key);
    PyBuffer_Release(&aes_key);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&nonces);
    return out;
}

/* sha256_hex_block: as sha256_hex_lines, but the lowercase hex digests are one bytes object, 64 per line. */
static PyObject *
sha256_hex_block(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"data", "prefix", "keep_last", "zero_empty", NULL};
    Py_buffer data, prefix = {0};
    Py_ssize_t keep_last = 0;
    int zero_empty = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|y*np", names, &data, &prefix, &keep_last, &zero_empty)) {
        return NULL;
    }
    const unsigned char *buf = data.buf;
    const Py_ssize_t lines = count_lines(buf, data.len);
    unsigned char *digests = PyMem_Malloc((size_t)lines * SHA256_DIGEST_LENGTH);
    PyObject *out = digests ? PyBytes_FromStringAndSize(NULL, lines * 2 * SHA256_DIGEST_LENGTH) : NULL;
    if (out != NULL) {
        char *hex = PyBytes_AS_STRING(out);
        Py_BEGIN_ALLOW_THREADS
        digest_lines(buf, data.len, lines, prefix.obj ? prefix.buf : NULL, prefix.obj ? prefix.len : 0,
                     keep_last, digests);
        for (Py_ssize_t i = 0; i < lines * SHA256_DIGEST_LENGTH; i++) {
            memcpy(hex + 2 * i, hex_pairs + 2 * digests[i], 2);
        }
        if (zero_empty) {
            const unsigned char *p = buf, *end = buf + data.len;
            for (Py_ssize_t line = 0; line < lines; line++) {
                const unsigned char *nl = memchr(p, '\n', end - p);
                if ((nl ? nl : end) == p) memset(hex + 2 * SHA256_DIGEST_LENGTH * line, 0, 2 * SHA256_DIGEST_LENGTH);
                p = nl ? nl + 1 : end;
            }
        }
        Py_END_ALLOW_THREADS
    } else if (digests == NULL) {
        PyErr_NoMemory();
    }
    PyMem_Free(digests);
    PyBuffer_Release(&data);
    if (prefix.obj) PyBuffer_Release(&prefix);
    return out;
}

/* A list of the n row numbers in rows (then freed). */
static PyObject *
rows_list(Py_ssize_t *rows, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    for (Py_ssize_t i = 0; list != NULL && i < n; i++) {
        PyObject *row = PyLong_FromSsize_t(rows[i]);
        if (row == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, row);
    }
    PyMem_Free(rows);
    return list;
}

/* The ASCII characters Python's str.strip() removes. */
static int
py_space(unsigned char c)
{
    return (c >= 9 && c <= 13) || (c >= 28 && c <= 32);
}

/*
 * ascii_lines(offsets, data, validity, start, length, lower, max_len) -> (bytes, list[int])
 *     An Arrow string array (int32 offsets, data, validity bitmap or None, from row `start`, `length`
 *     rows) as one newline-joined buffer of its values stripped as str.strip() strips an ASCII value,
 *     ASCII letters lowercased when `lower`.  A null or blank value is an empty line.  A value that
 *     is not ASCII, holds a newline, or is longer than max_len once stripped is an empty line too,
 *     and its row number is in the list: the caller judges it one value at a time.
 */
static PyObject *
ascii_lines(PyObject *self, PyObject *args)
{
    Py_buffer offsets, data, validity = {0};
    PyObject *valid_obj;
    Py_ssize_t start, n, max_len;
    int lower;
    if (!PyArg_ParseTuple(args, "y*y*Onnpn", &offsets, &data, &valid_obj, &start, &n, &lower, &max_len)) {
        return NULL;
    }
    PyObject *out = NULL, *flagged = NULL, *result = NULL;
    if (valid_obj != Py_None && PyObject_GetBuffer(valid_obj, &validity, PyBUF_SIMPLE) < 0) goto done;
    if (start < 0 || n < 0 || offsets.len < (start + n + 1) * 4
        || (validity.obj && validity.len * 8 < start + n)) {
        PyErr_SetString(PyExc_ValueError, "ascii_lines: the offsets or the validity bitmap are too short");
        goto done;
    }
    const int32_t *off = (const int32_t *)offsets.buf + start;
    if (n && (off[0] < 0 || off[n] < off[0] || off[n] > data.len)) {
        PyErr_SetString(PyExc_ValueError, "ascii_lines: offsets outside the data");
        goto done;
    }
    const unsigned char *bits = validity.obj ? validity.buf : NULL;
    const unsigned char *bytes = data.buf;
    Py_ssize_t *rows = PyMem_Malloc(sizeof(Py_ssize_t) * (n ? n : 1)), nflagged = 0;
    out = rows ? PyBytes_FromStringAndSize(NULL, (n ? off[n] - off[0] : 0) + n) : NULL;
    if (out == NULL) {
        PyMem_Free(rows);
        if (rows == NULL) PyErr_NoMemory();
        goto done;
    }
    char *w = PyBytes_AS_STRING(out);
    int backwards = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i) *w++ = '\n';
        if (bits && !(bits[(start + i) >> 3] >> ((start + i) & 7) & 1)) continue;
        if (off[i + 1] < off[i]) {
            backwards = 1;
            break;
        }
        const unsigned char *s = bytes + off[i], *e = bytes + off[i + 1];
        while (s < e && py_space(*s)) s++;
        while (e > s && py_space(e[-1])) e--;
        if (s == e) continue;
        int plain = e - s <= max_len;
        for (const unsigned char *p = s; plain && p < e; p++) {
            if (*p >= 0x80 || *p == '\n') plain = 0;
        }
        if (!plain) {
            rows[nflagged++] = i;
        } else if (lower) {
            for (const unsigned char *p = s; p < e; p++) *w++ = (*p >= 'A' && *p <= 'Z') ? *p + 32 : *p;
        } else {
            memcpy(w, s, e - s);
            w += e - s;
        }
    }
    Py_END_ALLOW_THREADS
    flagged = rows_list(rows, nflagged);
    if (backwards) {
        PyErr_SetString(PyExc_ValueError, "ascii_lines: offsets go backwards");
        goto done;
    }
    if (flagged == NULL || _PyBytes_Resize(&out, w - PyBytes_AS_STRING(out)) < 0) goto done;
    result = PyTuple_Pack(2, out, flagged);
done:
    Py_XDECREF(out);
    Py_XDECREF(flagged);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    if (validity.obj) PyBuffer_Release(&validity);
    return result;
}

static const char email_local[] = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~.-";
static const char email_domain[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";
static char local[256], domain[256]; /* set up by PyInit__fasthash */

/* Whether a line matches fbsync.identity.person.EMAIL_FAST_LINE. */
static int
plain_email(const unsigned char *s, const unsigned char *e)
{
    const unsigned char *p = s;
    while (p < e && *p && local[*p]) p++;
    if (p == s || p == e || *p != '@') return 0;
    int labels = 0;
    for (p++;; p++) {
        const unsigned char *label = p;
        while (p < e && *p && domain[*p]) p++;
        if (p == label) return 0;
        labels++;
        if (p == e) return labels >= 2;
        if (*p != '.') return 0;
    }
}

enum { PICK_EMPTY, PICK_FILLED, PICK_NOT_EMAIL };

/* The numbers of a buffer's lines that are empty, non-empty, or non-empty and not plain e-mails
 * (the GIL released); releases data. */
static PyObject *
pick_lines(Py_buffer *data, int pick)
{
    const unsigned char *buf = data->buf;
    const Py_ssize_t size = data->len, lines = count_lines(buf, size);
    Py_ssize_t *rows = PyMem_Malloc(sizeof(Py_ssize_t) * lines), found = 0;
    if (rows == NULL) {
        PyBuffer_Release(data);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t start = 0;
    for (Py_ssize_t line = 0; line < lines; line++) {
        const unsigned char *end = memchr(buf + start, '\n', size - start);
        const Py_ssize_t stop = end ? end - buf : size;
        const int take = pick == PICK_EMPTY ? stop == start
                         : stop > start && (pick == PICK_FILLED || !plain_email(buf + start, buf + stop));
        if (take) rows[found++] = line;
        start = stop + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(data);
    return rows_list(rows, found);
}

/*
 * email_suspects(data) -> list[int]
 *     Numbers of the non-empty lines of a newline-joined, lowercased buffer that do not match
 *     EMAIL_FAST_LINE (the same answer as the regex: tested).
 */
static PyObject *
email_suspects(PyObject *self, PyObject *args)
{
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    return pick_lines(&data, PICK_NOT_EMAIL);
}

/*
 * csv_rows(columns, keep) -> bytes
 *     CSV lines from columns of 64-byte fields (lowercase hex digests; a field whose first byte is 0 is
 *     empty).  A column is a buffer of one field per row, or a pair (fields, indices): a buffer of
 *     distinct fields and an int32 buffer giving each row's.  keep, when not None, has one byte per row
 *     and a row whose byte is 0 is left out.  Digests never need quoting.
 */
typedef struct {
    Py_buffer fields, indices;
    Py_ssize_t distinct;
} csv_column;

/* Open csv_rows' columns into cols (opened: how many to release) and keep_obj, when not None, into
 * keep; the number of rows, or -1 with an exception set. */
static Py_ssize_t
open_columns(PyObject *columns, csv_column *cols, Py_ssize_t *opened, PyObject *keep_obj, Py_buffer *keep)
{
    const Py_ssize_t k = PyList_GET_SIZE(columns);
    Py_ssize_t got = 0, n = -1;
    for (; got < k; got++) {
        PyObject *item = PyList_GET_ITEM(columns, got);
        csv_column *c = &cols[got];
        Py_ssize_t rows;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(item, 0), &c->fields, PyBUF_SIMPLE) < 0) break;
            if (PyObject_GetBuffer(PyTuple_GET_ITEM(item, 1), &c->indices, PyBUF_SIMPLE) < 0) {
                PyBuffer_Release(&c->fields);
                break;
            }
            c->distinct = c->fields.len / 64;
            rows = (c->fields.len % 64 || c->indices.len % 4) ? -2 : c->indices.len / 4;
        } else {
            if (PyObject_GetBuffer(item, &c->fields, PyBUF_SIMPLE) < 0) break;
            rows = c->fields.len % 64 ? -2 : c->fields.len / 64;
        }
        if (rows < 0 || (n >= 0 && rows != n)) {
            got++;
            PyErr_SetString(PyExc_ValueError, "every column holds the same number of 64-byte fields");
            break;
        }
        n = rows;
    }
    *opened = got;
    if (PyErr_Occurred()) return -1;
    if (n < 0) n = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        const int32_t *idx = cols[j].indices.obj ? cols[j].indices.buf : NULL;
        for (Py_ssize_t i = 0; idx && i < n; i++) {
            if (idx[i] < 0 || idx[i] >= cols[j].distinct) {
                PyErr_SetString(PyExc_ValueError, "an index outside its column's fields");
                return -1;
            }
        }
    }
    if (keep_obj != Py_None) {
        if (PyObject_GetBuffer(keep_obj, keep, PyBUF_SIMPLE) < 0) return -1;
        if (keep->len != n) {
            PyErr_SetString(PyExc_ValueError, "keep must have one byte per row");
            return -1;
        }
    }
    return n;
}

/* A field as a str: "" (empty, shared) when its first byte is 0, else its 64 characters. */
static PyObject *
field_str(const char *field, PyObject *empty)
{
    if (!field[0]) {
        Py_INCREF(empty);
        return empty;
    }
    PyObject *text = PyUnicode_New(64, 127);
    if (text != NULL) memcpy(PyUnicode_1BYTE_DATA(text), field, 64);
    return text;
}

static PyObject *
csv_rows(PyObject *self, PyObject *args)
{
    PyObject *columns, *keep_obj;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &columns, &keep_obj)) return NULL;
    const Py_ssize_t k = PyList_GET_SIZE(columns);
    csv_column *cols = PyMem_Calloc(k ? k : 1, sizeof(csv_column));
    Py_buffer keep = {0};
    PyObject *out = NULL;
    Py_ssize_t got = 0, n = -1;
    if (cols == NULL) return PyErr_NoMemory();
    if ((n = open_columns(columns, cols, &got, keep_obj, &keep)) < 0) goto done;
    out = PyBytes_FromStringAndSize(NULL, n * (k ? k * 65 : 1));
    if (out == NULL) goto done;
    char *w = PyBytes_AS_STRING(out);
    const unsigned char *kept = keep.obj ? keep.buf : NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kept && !kept[i]) continue;
        for (Py_ssize_t j = 0; j < k; j++) {
            const csv_column *c = &cols[j];
            const Py_ssize_t at = c->indices.obj ? ((const int32_t *)c->indices.buf)[i] : i;
            const char *field = (const char *)c->fields.buf + 64 * at;
            if (j) *w++ = ',';
            if (field[0]) {
                memcpy(w, field, 64);
                w += 64;
            }
        }
        *w++ = '\n';
    }
    Py_END_ALLOW_THREADS
    if (_PyBytes_Resize(&out, w - PyBytes_AS_STRING(out)) < 0) out = NULL;
done:
    for (Py_ssize_t j = 0; j < got; j++) {
        PyBuffer_Release(&cols[j].fields);
        if (cols[j].indices.obj) PyBuffer_Release(&cols[j].indices);
    }
    PyMem_Free(cols);
    if (keep.obj) PyBuffer_Release(&keep);
    return out;
}

/*
 * field_rows(columns, keep) -> list[tuple[str, ...]]
 *     The kept rows of csv_rows' columns as tuples of str ("" for an empty field): the rows of
 *     fbsync.identity.HashedBatch.  A field of a (fields, indices) column is one str shared by
 *     every row that points at it.
 */
static PyObject *
field_rows(PyObject *self, PyObject *args)
{
    PyObject *columns, *keep_obj;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &columns, &keep_obj)) return NULL;
    const Py_ssize_t k = PyList_GET_SIZE(columns);
    csv_column *cols = PyMem_Calloc(k ? k : 1, sizeof(csv_column));
    PyObject **shared = PyMem_Calloc(k ? k : 1, sizeof(PyObject *)); /* per column: a tuple of its fields' str */
    Py_buffer keep = {0};
    PyObject *out = NULL, *empty = PyUnicode_New(0, 127);
    Py_ssize_t got = 0, n = 0;
    if (cols == NULL || shared == NULL || empty == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if ((n = open_columns(columns, cols, &got, keep_obj, &keep)) < 0) goto done;
    for (Py_ssize_t j = 0; j < k; j++) {
        if (!cols[j].indices.obj) continue;
        shared[j] = PyTuple_New(cols[j].distinct);
        for (Py_ssize_t d = 0; shared[j] != NULL && d < cols[j].distinct; d++) {
            PyObject *text = field_str((const char *)cols[j].fields.buf + 64 * d, empty);
            if (text == NULL) Py_CLEAR(shared[j]);
            else PyTuple_SET_ITEM(shared[j], d, text);
        }
        if (shared[j] == NULL) goto done;
    }
    const unsigned char *kept = keep.obj ? keep.buf : NULL;
    Py_ssize_t rows = 0;
    for (Py_ssize_t i = 0; i < n; i++) rows += !kept || kept[i];
    out = PyList_New(rows);
    for (Py_ssize_t i = 0, r = 0; out != NULL && i < n; i++) {
        if (kept && !kept[i]) continue;
        PyObject *row = PyTuple_New(k);
        for (Py_ssize_t j = 0; row != NULL && j < k; j++) {
            PyObject *text;
            if (shared[j] != NULL) {
                text = PyTuple_GET_ITEM(shared[j], ((const int32_t *)cols[j].indices.buf)[i]);
                Py_INCREF(text);
            } else {
                text = field_str((const char *)cols[j].fields.buf + 64 * i, empty);
            }
            if (text == NULL) Py_CLEAR(row);
            else PyTuple_SET_ITEM(row, j, text);
        }
        if (row == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, r++, row);
    }
done:
    for (Py_ssize_t j = 0; j < got; j++) {
        PyBuffer_Release(&cols[j].fields);
        if (cols[j].indices.obj) PyBuffer_Release(&cols[j].indices);
        if (shared) Py_XDECREF(shared[j]);
    }
    PyMem_Free(cols);
    PyMem_Free(shared);
    Py_XDECREF(empty);
    if (keep.obj) PyBuffer_Release(&keep);
    return out;
}

/*
 * seal_fields(fp_key, aes_key, prefix, columns, keep, nonces) -> (bytes, bytes, bytes)
 *     seal_rows for the kept rows of csv_rows' columns, each row's message being its fields joined by
 *     0x1f ("" for an empty field: the bytes of fbsync.state.crypto.SEP.join(row)), without a Python
 *     object per row: the rows' 16-byte fingerprints in one bytes object, their sealed rows (nonce +
 *     ciphertext + tag) one after another in another, and each sealed row's length (int64, native order)
 *     in a third.  nonces: 12 bytes per kept row.
 */
static PyObject *
seal_fields(PyObject *self, PyObject *args)
{
    Py_buffer fp_key, aes_key, prefix, nonces;
    PyObject *columns, *keep_obj;
    if (!PyArg_ParseTuple(args, "y*y*y*O!Oy*", &fp_key, &aes_key, &prefix, &PyList_Type, &columns, &keep_obj,
                          &nonces)) {
        return NULL;
    }
    const Py_ssize_t k = PyList_GET_SIZE(columns);
    csv_column *cols = PyMem_Calloc(k ? k : 1, sizeof(csv_column));
    unsigned char *msg = PyMem_Malloc(k ? 65 * k : 1);
    Py_buffer keep = {0};
    PyObject *fps = NULL, *sealed = NULL, *sizes = NULL, *out = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    Py_ssize_t got = 0, n = 0, rows = 0;
    int ok = 1;
    if (cols == NULL || msg == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if ((n = open_columns(columns, cols, &got, keep_obj, &keep)) < 0) goto done;
    const unsigned char *kept = keep.obj ? keep.buf : NULL;
    for (Py_ssize_t i = 0; i < n; i++) rows += !kept || kept[i];
    if (nonces.len != 12 * rows) {
        PyErr_SetString(PyExc_ValueError, "seal_fields: 12 bytes of nonce per kept row");
        goto done;
    }
    hmac_state mac;
    hmac_prepare(&mac, fp_key.buf, (size_t)fp_key.len);
    if ((ctx = gcm_context(&aes_key, "seal_fields")) == NULL) goto done;
    fps = PyBytes_FromStringAndSize(NULL, 16 * rows);
    sealed = PyBytes_FromStringAndSize(NULL, rows * (28 + (k ? 65 * k - 1 : 0)));
    sizes = PyBytes_FromStringAndSize(NULL, rows * (Py_ssize_t)sizeof(int64_t));
    if (fps == NULL || sealed == NULL || sizes == NULL) goto done;
    unsigned char *fp = (unsigned char *)PyBytes_AS_STRING(fps), *w = (unsigned char *)PyBytes_AS_STRING(sealed);
    int64_t *size = (int64_t *)PyBytes_AS_STRING(sizes);
    const unsigned char *nonce = nonces.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        if (kept && !kept[i]) continue;
        size_t len = 0;
        for (Py_ssize_t j = 0; j < k; j++) {
            const csv_column *c = &cols[j];
            const Py_ssize_t at = c->indices.obj ? ((const int32_t *)c->indices.buf)[i] : i;
            const char *field = (const char *)c->fields.buf + 64 * at;
            if (j) msg[len++] = 0x1f;
            if (field[0]) {
                memcpy(msg + len, field, 64);
                len += 64;
            }
        }
        ok = seal_one(ctx, &mac, prefix.buf, (size_t)prefix.len, msg, len, nonce, fp, w);
        *size++ = (int64_t)(28 + len);
        w += 28 + len;
        fp += 16;
        nonce += 12;
    }
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_SetString(PyExc_RuntimeError, "seal_fields: OpenSSL failed to encrypt a row");
        goto done;
    }
    if (_PyBytes_Resize(&sealed, w - (unsigned char *)PyBytes_AS_STRING(sealed)) < 0) goto done;
    out = PyTuple_Pack(3, fps, sealed, sizes);
done:
    for (Py_ssize_t j = 0; j < got; j++) {
        PyBuffer_Release(&cols[j].fields);
        if (cols[j].indices.obj) PyBuffer_Release(&cols[j].indices);
    }
    PyMem_Free(cols);
    PyMem_Free(msg);
    EVP_CIPHER_CTX_free(ctx);
    if (keep.obj) PyBuffer_Release(&keep);
    Py_XDECREF(fps);
    Py_XDECREF(sealed);
    Py_XDECREF(sizes);
    PyBuffer_Release(&fp_key);
    PyBuffer_Release(&aes_key);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&nonces);
    return out;
}

/*
 * line_numbers(data, empty) -> list[int]
 *     Numbers of the empty lines (empty true) or of the non-empty lines (empty false) of a
 *     newline-separated buffer (n newlines: n + 1 lines, as bytes.split).
 */
static PyObject *
line_numbers(PyObject *self, PyObject *args)
{
    Py_buffer data;
    int empty;
    if (!PyArg_ParseTuple(args, "y*p", &data, &empty)) return NULL;
    return pick_lines(&data, empty ? PICK_EMPTY : PICK_FILLED);
}

static PyMethodDef methods[] = {
    {"sha256_hex_lines", (PyCFunction)(void (*)(void))sha256_hex_lines, METH_VARARGS | METH_KEYWORDS,
     "sha256_hex_lines(data, prefix=b'', keep_last=0) -> list[str]: lowercase hex SHA-256 of "
     "prefix + each line of data (its last keep_last bytes when keep_last > 0)."},
    {"seal_rows", seal_rows, METH_VARARGS,
     "seal_rows(fp_key, aes_key, prefix, rows, nonces) -> list[tuple[bytes, bytes]]: per row, "
     "HMAC-SHA256(fp_key, prefix + row)[:16] and nonce + AES-256-GCM(aes_key, nonce, row) + tag."},
    {"sha256_hex_block", (PyCFunction)(void (*)(void))sha256_hex_block, METH_VARARGS | METH_KEYWORDS,
     "sha256_hex_block(data, prefix=b'', keep_last=0, zero_empty=False) -> bytes: sha256_hex_lines' digests, "
     "64 bytes each, in one bytes object (64 zero bytes for an empty line when zero_empty)."},
    {"ascii_lines", ascii_lines, METH_VARARGS,
     "ascii_lines(offsets, data, validity, start, length, lower, max_len) -> (bytes, list[int]): an Arrow "
     "string array's stripped ASCII values, newline-joined, and the rows left for the per-value path."},
    {"email_suspects", email_suspects, METH_VARARGS,
     "email_suspects(data) -> list[int]: the non-empty lines that do not match EMAIL_FAST_LINE."},
    {"seal_fields", seal_fields, METH_VARARGS,
     "seal_fields(fp_key, aes_key, prefix, columns, keep, nonces) -> (fingerprints, sealed rows, their int64 "
     "lengths): seal_rows over the kept rows of csv_rows' columns, fields joined by 0x1f."},
    {"field_rows", field_rows, METH_VARARGS,
     "field_rows(columns, keep) -> list[tuple[str, ...]]: csv_rows' kept rows as tuples of str."},
    {"line_numbers", line_numbers, METH_VARARGS,
     "line_numbers(data, empty) -> list[int]: the numbers of the empty (or non-empty) lines of a buffer."},
    {"csv_rows", csv_rows, METH_VARARGS,
     "csv_rows(columns, keep) -> bytes: CSV lines from columns of 64-byte fields (first byte 0: empty), each "
     "a buffer or a (distinct fields, int32 indices) pair."},
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
    for (const char *c = email_local; *c; c++) local[(unsigned char)*c] = 1;
    for (const char *c = email_domain; *c; c++) domain[(unsigned char)*c] = 1;
    return PyModule_Create(&module);
}
