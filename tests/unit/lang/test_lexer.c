/* Lexer unit tests: every token of the table, literals and their values, spans, comments,
 * lexical errors and recovery, and inputs of arbitrary bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

enum { MAXTOK = 64 };

typedef struct Lexed {
    DaftSourceSet sources;
    DaftDiagEngine diags;
    DaftArena *arena;
    int n;
    int kinds[MAXTOK];
    DaftSpan spans[MAXTOK];
    DaftTok vals[MAXTOK];
} Lexed;

static Lexed *lex_bytes(const char *text, size_t size) {
    Lexed *l = calloc(1, sizeof(Lexed));
    daft_diag_init(&l->diags, &l->sources);
    l->arena = daft_arena_new();
    DaftSource *src = daft_source_from_string(&l->sources, "t.daft", text, size);
    l->n = daft_lex_tokens(l->arena, src, &l->diags, l->kinds, l->spans, l->vals, MAXTOK);
    return l;
}

static Lexed *lex(const char *text) { return lex_bytes(text, strlen(text)); }

static void lexed_free(Lexed *l) {
    daft_arena_free(l->arena);
    daft_diag_free(&l->diags);
    daft_source_set_free(&l->sources);
    free(l);
}

static void assert_span(DaftSpan s, int l1, int c1, int l2, int c2) {
    assert_int_equal(s.begin.line, l1);
    assert_int_equal(s.begin.col, c1);
    assert_int_equal(s.end.line, l2);
    assert_int_equal(s.end.col, c2);
}

static const char *first_error(Lexed *l) {
    return l->diags.len > 0 ? l->diags.diags[0].message : "";
}

/* Every keyword and punctuator spelling lexes to exactly its own token. */
static void test_every_token(void **state) {
    (void)state;
    static const struct { const char *s; int cat; } table[] = {
#define X(id, text, cat) {text, cat},
        DAFT_TOKENS(X)
#undef X
    };
    for (int i = 0; i < DAFT_TOKEN_COUNT; i++) {
        const char *text = table[i].s;
        if (table[i].cat == TK_LITERAL)
            continue;
        Lexed *l = lex(text);
        if (l->n != 1 || l->kinds[0] != DAFT_TOKEN_FIRST + i)
            fail_msg("'%s' lexed as %d tokens, first %d", text, l->n, l->kinds[0]);
        assert_int_equal(l->diags.len, 0);
        assert_span(l->spans[0], 1, 1, 1, 1 + (int)strlen(text));
        assert_string_equal(daft_token_spelling(DAFT_TOKEN_FIRST + i), text);
        lexed_free(l);
    }
    const struct { const char *src; int kind; } lits[] = {
        {"foo", DAFT_TOK(T_IDENT)}, {"42", DAFT_TOK(T_INT)},
        {"1.5", DAFT_TOK(T_FLOAT)}, {"\"s\"", DAFT_TOK(T_STRING)},
    };
    for (size_t i = 0; i < sizeof lits / sizeof *lits; i++) {
        Lexed *l = lex(lits[i].src);
        assert_int_equal(l->n, 1);
        assert_int_equal(l->kinds[0], lits[i].kind);
        lexed_free(l);
    }
}

/* The bison %token list carries the same spellings as the table. */
static void test_bison_names_match_table(void **state) {
    (void)state;
    for (int i = 0; i < DAFT_TOKEN_COUNT; i++) {
        int tok = DAFT_TOKEN_FIRST + i;
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", daft_token_spelling(tok));
        const char *got = daft_parser_token_name(tok);
        assert_non_null(got);
        if (strcmp(got, want) != 0 && strcmp(got, daft_token_spelling(tok)) != 0)
            fail_msg("bison names token %d %s, table says %s", tok, got, want);
    }
}

static void test_keywords_and_identifiers(void **state) {
    (void)state;
    Lexed *l = lex("actors fnx _a1 self selfish in inx Ref tensor gpu");
    assert_int_equal(l->n, 10);
    int want[] = {DAFT_TOK(T_IDENT), DAFT_TOK(T_IDENT), DAFT_TOK(T_IDENT), DAFT_TOK(T_SELF),
                  DAFT_TOK(T_IDENT), DAFT_TOK(T_IN), DAFT_TOK(T_IDENT), DAFT_TOK(T_IDENT),
                  DAFT_TOK(T_IDENT), DAFT_TOK(T_IDENT)};
    for (int i = 0; i < 10; i++)
        assert_int_equal(l->kinds[i], want[i]);
    assert_string_equal(l->vals[0].s, "actors");
    assert_string_equal(l->vals[2].s, "_a1");
    lexed_free(l);
}

static void test_punctuation_longest_match(void **state) {
    (void)state;
    Lexed *l = lex("0..n a.b ->-> <=>= ==!= += -= *= /= &&||");
    int want[] = {DAFT_TOK(T_INT), DAFT_TOK(T_DOTDOT), DAFT_TOK(T_IDENT), DAFT_TOK(T_IDENT),
                  DAFT_TOK(T_DOT), DAFT_TOK(T_IDENT), DAFT_TOK(T_ARROW), DAFT_TOK(T_ARROW),
                  DAFT_TOK(T_LE), DAFT_TOK(T_GE), DAFT_TOK(T_EQEQ), DAFT_TOK(T_NE),
                  DAFT_TOK(T_PLUSEQ), DAFT_TOK(T_MINUSEQ), DAFT_TOK(T_STAREQ), DAFT_TOK(T_SLASHEQ),
                  DAFT_TOK(T_ANDAND), DAFT_TOK(T_OROR)};
    assert_int_equal(l->n, (int)(sizeof want / sizeof *want));
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        assert_int_equal(l->kinds[i], want[i]);
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);
}

static void test_integers(void **state) {
    (void)state;
    Lexed *l = lex("0 42 1_000_000 0x1F 0XfF_fF 9223372036854775807 0x7fffffffffffffff");
    int64_t want[] = {0, 42, 1000000, 31, 0xffff, INT64_MAX, INT64_MAX};
    assert_int_equal(l->n, 7);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(l->kinds[i], DAFT_TOK(T_INT));
        assert_true(l->vals[i].ival == want[i]);
    }
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);

    l = lex("9223372036854775808");
    assert_int_equal(l->n, 1);
    assert_string_equal(first_error(l), "integer literal is too large (maximum is 9223372036854775807)");
    assert_span(l->diags.diags[0].span, 1, 1, 1, 20);
    lexed_free(l);

    l = lex("0x10000000000000000 123456789012345678901234567890");
    assert_int_equal(l->diags.len, 2);
    lexed_free(l);

    l = lex("12abc 0x1g 0x");
    assert_int_equal(l->n, 3);
    assert_int_equal(l->diags.len, 3);
    assert_string_equal(l->diags.diags[0].message, "invalid suffix 'abc' on integer literal");
    assert_span(l->diags.diags[0].span, 1, 3, 1, 6);
    assert_string_equal(l->diags.diags[1].message, "invalid suffix 'g' on integer literal");
    assert_string_equal(l->diags.diags[2].message, "hexadecimal literal has no digits");
    lexed_free(l);
}

static void test_floats(void **state) {
    (void)state;
    Lexed *l = lex("1.5 2e10 1.5e-3 0.25E+2 3.0");
    double want[] = {1.5, 2e10, 1.5e-3, 25.0, 3.0};
    assert_int_equal(l->n, 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(l->kinds[i], DAFT_TOK(T_FLOAT));
        assert_true(l->vals[i].fval == want[i]);
    }
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);

    l = lex("1.5f 1e999");
    assert_int_equal(l->diags.len, 2);
    assert_string_equal(l->diags.diags[0].message, "invalid suffix 'f' on floating-point literal");
    assert_string_equal(l->diags.diags[1].message, "floating-point literal is too large");
    lexed_free(l);
}

static void test_strings(void **state) {
    (void)state;
    Lexed *l = lex("\"a\\n\\t\\\\\\\"\\0\\x41\\xfF\" \"\"");
    assert_int_equal(l->n, 2);
    assert_int_equal(l->kinds[0], DAFT_TOK(T_STRING));
    assert_int_equal(l->vals[0].len, 8);
    assert_memory_equal(l->vals[0].s, "a\n\t\\\"\0A\xff", 8);
    assert_int_equal(l->vals[1].len, 0);
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);

    /* Escape errors point at the escape; lexing goes on. */
    l = lex("\"ab\\q\" x \"\\x4\" \"\\x\"");
    assert_int_equal(l->n, 4);
    assert_int_equal(l->diags.len, 3);
    assert_string_equal(l->diags.diags[0].message, "unknown escape sequence '\\q'");
    assert_span(l->diags.diags[0].span, 1, 4, 1, 6);
    assert_string_equal(l->diags.diags[1].message, "\\x escape needs exactly two hexadecimal digits");
    lexed_free(l);

    /* Unterminated at end of line and at end of file: still a string token. */
    l = lex("let s = \"abc\nx \"def\\");
    assert_int_equal(l->n, 6);
    assert_int_equal(l->kinds[3], DAFT_TOK(T_STRING));
    assert_string_equal(l->vals[3].s, "abc");
    assert_int_equal(l->kinds[4], DAFT_TOK(T_IDENT));
    assert_int_equal(l->diags.len, 2);
    assert_string_equal(l->diags.diags[0].message, "unterminated string literal");
    assert_span(l->diags.diags[0].span, 1, 9, 1, 10);
    assert_span(l->diags.diags[1].span, 2, 3, 2, 4);
    lexed_free(l);

    /* NUL and non-ASCII bytes inside a string are kept. */
    l = lex_bytes("\"a\0\xc3\xa9\"", 6);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->vals[0].len, 4);
    assert_memory_equal(l->vals[0].s, "a\0\xc3\xa9", 4);
    lexed_free(l);
}

static void test_comments_and_spans(void **state) {
    (void)state;
    Lexed *l = lex("// line comment\n  fn /* block\n comment */ foo\t(\r\n/**/)// end");
    assert_int_equal(l->n, 4);
    assert_int_equal(l->kinds[0], DAFT_TOK(T_FN));
    assert_span(l->spans[0], 2, 3, 2, 5);
    assert_int_equal(l->kinds[1], DAFT_TOK(T_IDENT));
    assert_span(l->spans[1], 3, 13, 3, 16);
    assert_span(l->spans[2], 3, 17, 3, 18); /* a tab counts one byte */
    assert_span(l->spans[3], 4, 5, 4, 6);
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);

    l = lex("a /* never\n closed ** /");
    assert_int_equal(l->n, 1);
    assert_int_equal(l->diags.len, 1);
    assert_string_equal(first_error(l), "unterminated block comment");
    assert_span(l->diags.diags[0].span, 1, 3, 1, 5);
    lexed_free(l);

    l = lex("/* a ** b */ x /***/ y");
    assert_int_equal(l->n, 2);
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);
}

static void test_invalid_characters(void **state) {
    (void)state;
    Lexed *l = lex("a $ b # c ` d & e | f '");
    assert_int_equal(l->n, 6);
    assert_int_equal(l->diags.len, 6);
    assert_string_equal(l->diags.diags[0].message, "invalid character '$'");
    assert_span(l->diags.diags[0].span, 1, 3, 1, 4);
    assert_string_equal(l->diags.diags[1].message, "invalid character '#'");
    assert_string_equal(l->diags.diags[3].message, "invalid character '&' (did you mean '&&'?)");
    assert_string_equal(l->diags.diags[4].message, "invalid character '|' (did you mean '||'?)");
    assert_string_equal(l->diags.diags[5].message, "invalid character ''' (strings use double quotes)");
    lexed_free(l);

    /* A run of bad bytes is one error; the column of what follows stays right. */
    l = lex_bytes("x\0\0\0y \xff\xfe z \xc3\xa9w \x01", 16);
    assert_int_equal(l->n, 4);
    assert_int_equal(l->diags.len, 4);
    assert_string_equal(l->diags.diags[0].message, "invalid byte 0x00 in source");
    assert_span(l->diags.diags[0].span, 1, 2, 1, 3);
    assert_span(l->spans[1], 1, 5, 1, 6);
    assert_string_equal(l->diags.diags[1].message, "invalid byte 0xff in source");
    /* UTF-8 text is named as the character it is, over its bytes */
    assert_string_equal(l->diags.diags[2].message, "invalid character '\xc3\xa9' (U+00E9) in source; only strings "
                                                   "and comments may hold non-ASCII text");
    assert_span(l->diags.diags[2].span, 1, 12, 1, 14);
    assert_string_equal(l->diags.diags[3].message, "invalid byte 0x01 in source");
    assert_span(l->spans[3], 1, 14, 1, 15);
    lexed_free(l);
}

static void test_empty_and_whitespace(void **state) {
    (void)state;
    Lexed *l = lex("");
    assert_int_equal(l->n, 0);
    lexed_free(l);
    l = lex(" \t\r\n\f\v\n");
    assert_int_equal(l->n, 0);
    assert_int_equal(l->diags.len, 0);
    lexed_free(l);
}

/* A 1 MB line of one identifier, one comment, one string. */
static void test_huge_tokens(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *buf = malloc(n + 8);
    memset(buf, 'a', n);
    Lexed *l = lex_bytes(buf, n);
    assert_int_equal(l->n, 1);
    assert_int_equal(l->vals[0].len, n);
    assert_span(l->spans[0], 1, 1, 1, 1 + (int)n);
    lexed_free(l);

    memcpy(buf, "//", 2);
    l = lex_bytes(buf, n);
    assert_int_equal(l->n, 0);
    lexed_free(l);

    buf[0] = '"';
    buf[1] = 'x';
    l = lex_bytes(buf, n);
    assert_int_equal(l->n, 1);
    assert_string_equal(first_error(l), "unterminated string literal");
    lexed_free(l);

    memcpy(buf, "/*", 2);
    l = lex_bytes(buf, n);
    assert_string_equal(first_error(l), "unterminated block comment");
    lexed_free(l);
    free(buf);
}

/* Random bytes never crash the lexer, and every span lies inside the input. */
static void test_random_bytes(void **state) {
    (void)state;
    srand(12345);
    for (int round = 0; round < 2000; round++) {
        size_t n = (size_t)(rand() % 200);
        char buf[200];
        for (size_t i = 0; i < n; i++) {
            int r = rand() % 4;
            buf[i] = r == 0 ? (char)(rand() % 256) : "\"\\/*x0.\n{(1e_ \t"[rand() % 15];
        }
        Lexed *l = lex_bytes(buf, n);
        for (int i = 0; i < l->n && i < MAXTOK; i++) {
            assert_true(l->spans[i].begin.line >= 1);
            assert_true(l->spans[i].begin.col >= 1);
            assert_true(l->spans[i].end.line >= l->spans[i].begin.line);
        }
        lexed_free(l);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_token),
        cmocka_unit_test(test_bison_names_match_table),
        cmocka_unit_test(test_keywords_and_identifiers),
        cmocka_unit_test(test_punctuation_longest_match),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_comments_and_spans),
        cmocka_unit_test(test_invalid_characters),
        cmocka_unit_test(test_empty_and_whitespace),
        cmocka_unit_test(test_huge_tokens),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
