/* An append-only JSON writer into a caller's bounded buffer: no allocation,
 * commas placed automatically, and on running out of room it stops writing
 * (never past cap) and remembers it, so a caller writes a whole document and
 * checks once with json_finish(). Used for the live-status document. */
#ifndef MP_JSON_H
#define MP_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One bit of need_comma_bits per nesting level bounds the depth. */
#define JSON_MAX_DEPTH 31

/* Digits after the point that json_double accepts at most. */
#define JSON_MAX_DECIMALS 9

struct json {
	char *buf;
	size_t cap, len;
	int overflow;			/* out of room, or misuse (see below) */
	unsigned depth;
	uint32_t need_comma_bits;	/* bit d: level d already has a value */
};

/* One byte of cap is kept for the NUL that json_finish writes. */
void json_init(struct json *j, char *buf, size_t cap);

/* Returns the document's length (buf is then NUL-terminated), or -1 if it
 * did not fit, nested deeper than JSON_MAX_DEPTH, or is left unbalanced. */
ssize_t json_finish(struct json *j);

/* Streaming: a document written through several buffers, one after the
 * other, in pieces that are whole or not there at all. json_next_buffer
 * goes on in a new buffer (the old one's len bytes are the caller's to
 * send) where the document stands: same depth, same commas to come.
 * json_piece_end keeps what was written since json_piece_begin if it all
 * fit (returns 1), or takes it back and clears the overflow (returns 0),
 * so the piece can be written again into the next buffer. */
struct json_mark {
	size_t len;
	unsigned depth;
	uint32_t need_comma_bits;
};

void json_next_buffer(struct json *j, char *buf, size_t cap);
void json_piece_begin(const struct json *j, struct json_mark *m);
int json_piece_end(struct json *j, const struct json_mark *m);

void json_obj_begin(struct json *j);
void json_obj_end(struct json *j);
void json_arr_begin(struct json *j);
void json_arr_end(struct json *j);

/* Inside an object: the name of the value that follows. */
void json_key(struct json *j, const char *name);

/* Values. Strings: '"', '\\' and control characters are escaped (\u00XX),
 * valid UTF-8 passes through, any other byte becomes \uFFFD. Doubles are
 * written with a fixed number of decimals independent of the locale;
 * NaN and infinities become null. */
void json_str(struct json *j, const char *s);
void json_str_len(struct json *j, const char *s, size_t n);
void json_u64(struct json *j, uint64_t v);
void json_i64(struct json *j, int64_t v);
void json_double(struct json *j, double v, unsigned decimals);
void json_bool(struct json *j, int v);
void json_null(struct json *j);

/* Key and value in one call. */
void json_kv_str(struct json *j, const char *key, const char *s);
void json_kv_u64(struct json *j, const char *key, uint64_t v);
void json_kv_i64(struct json *j, const char *key, int64_t v);
void json_kv_double(struct json *j, const char *key, double v,
		    unsigned decimals);
void json_kv_bool(struct json *j, const char *key, int v);
void json_kv_obj_begin(struct json *j, const char *key);
void json_kv_arr_begin(struct json *j, const char *key);

#endif
