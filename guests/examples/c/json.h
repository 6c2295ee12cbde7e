/* A strict JSON validator (RFC 8259): one value, optional whitespace around
 * it, nothing else. No allocation and no recursion limit beyond `MAX_DEPTH`,
 * so a hostile payload cannot exhaust the guest's stack. */
#ifndef CISTERN_EXAMPLE_JSON_H
#define CISTERN_EXAMPLE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define MAX_DEPTH 64

typedef struct {
  const unsigned char *at, *end;
} cursor;

static void skip_ws(cursor *c) {
  while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == '\n' || *c->at == '\r')) c->at++;
}

static bool literal(cursor *c, const char *word) {
  for (; *word; word++, c->at++) {
    if (c->at >= c->end || *c->at != (unsigned char)*word) return false;
  }
  return true;
}

static bool digits(cursor *c) {
  const unsigned char *start = c->at;
  while (c->at < c->end && *c->at >= '0' && *c->at <= '9') c->at++;
  return c->at > start;
}

static bool number(cursor *c) {
  if (c->at < c->end && *c->at == '-') c->at++;
  if (c->at < c->end && *c->at == '0') {
    c->at++;
  } else if (!digits(c)) {
    return false;
  }
  if (c->at < c->end && *c->at == '.') {
    c->at++;
    if (!digits(c)) return false;
  }
  if (c->at < c->end && (*c->at == 'e' || *c->at == 'E')) {
    c->at++;
    if (c->at < c->end && (*c->at == '+' || *c->at == '-')) c->at++;
    if (!digits(c)) return false;
  }
  return true;
}

static bool hex4(cursor *c) {
  for (int i = 0; i < 4; i++, c->at++) {
    if (c->at >= c->end) return false;
    unsigned char h = *c->at;
    if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return false;
  }
  return true;
}

/* A string, its opening quote at the cursor. Control characters must be
 * escaped; bytes above 0x7f pass (the host hands payloads over as bytes). */
static bool string(cursor *c) {
  c->at++;
  while (c->at < c->end) {
    unsigned char ch = *c->at++;
    if (ch == '"') return true;
    if (ch < 0x20) return false;
    if (ch == '\\') {
      if (c->at >= c->end) return false;
      unsigned char e = *c->at++;
      if (e == 'u') {
        if (!hex4(c)) return false;
      } else if (!(e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't')) {
        return false;
      }
    }
  }
  return false;
}

static bool value(cursor *c, int depth);

static bool members(cursor *c, int depth, bool object) {
  char close = object ? '}' : ']';
  c->at++;
  skip_ws(c);
  if (c->at < c->end && *c->at == close) {
    c->at++;
    return true;
  }
  for (;;) {
    skip_ws(c);
    if (object) {
      if (c->at >= c->end || *c->at != '"' || !string(c)) return false;
      skip_ws(c);
      if (c->at >= c->end || *c->at != ':') return false;
      c->at++;
    }
    if (!value(c, depth + 1)) return false;
    skip_ws(c);
    if (c->at >= c->end) return false;
    if (*c->at == ',') {
      c->at++;
      continue;
    }
    if (*c->at == close) {
      c->at++;
      return true;
    }
    return false;
  }
}

static bool value(cursor *c, int depth) {
  if (depth > MAX_DEPTH) return false;
  skip_ws(c);
  if (c->at >= c->end) return false;
  switch (*c->at) {
    case '{': return members(c, depth, true);
    case '[': return members(c, depth, false);
    case '"': return string(c);
    case 't': return literal(c, "true");
    case 'f': return literal(c, "false");
    case 'n': return literal(c, "null");
    default: return number(c);
  }
}

/* Whether the bytes are UTF-8, as RFC 8259 asks of JSON text (and the
 * component model of every string): no overlong form, no surrogate. */
static bool is_utf8(const unsigned char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    unsigned char b = s[i];
    size_t n;
    unsigned int cp;
    if (b < 0x80) { i++; continue; }
    else if ((b & 0xe0) == 0xc0) { n = 1; cp = b & 0x1f; }
    else if ((b & 0xf0) == 0xe0) { n = 2; cp = b & 0x0f; }
    else if ((b & 0xf8) == 0xf0) { n = 3; cp = b & 0x07; }
    else return false;
    for (size_t k = 1; k <= n; k++) {
      if (i + k >= len || (s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/* Whether the bytes are exactly one JSON value, in UTF-8. */
static bool is_json(const unsigned char *bytes, size_t len) {
  if (!is_utf8(bytes, len)) return false;
  cursor c = {bytes, bytes + len};
  if (!value(&c, 0)) return false;
  skip_ws(&c);
  return c.at == c.end;
}

#endif
