/* Internals shared by the lexer (lexer.l), the parser (parser.y), daft_parse (parse.c) and
 * the lexer/parser unit tests. Not part of the public API.
 *
 * Tokens come from one X-macro table, DAFT_TOKENS: kind, spelling and category. The bison
 * %token list in parser.y declares the same kinds in the same order with the spelling as
 * alias; static assertions in parser.y check the numbering, and test_lexer checks that
 * lexing every spelling yields its kind and that bison's names match the spellings. */
#ifndef DAFT_PARSE_INTERNAL_H
#define DAFT_PARSE_INTERNAL_H

#include <daft/lang.h>

enum { TK_LITERAL, TK_KEYWORD, TK_PUNCT };

#define DAFT_TOKENS(X) \
    X(T_IDENT, "identifier", TK_LITERAL) \
    X(T_INT, "integer literal", TK_LITERAL) \
    X(T_FLOAT, "floating-point literal", TK_LITERAL) \
    X(T_STRING, "string literal", TK_LITERAL) \
    X(T_ACTOR, "actor", TK_KEYWORD) \
    X(T_AS, "as", TK_KEYWORD) \
    X(T_BREAK, "break", TK_KEYWORD) \
    X(T_COMPILED, "compiled", TK_KEYWORD) \
    X(T_CONST, "const", TK_KEYWORD) \
    X(T_CONTINUE, "continue", TK_KEYWORD) \
    X(T_ELSE, "else", TK_KEYWORD) \
    X(T_EXTERN, "extern", TK_KEYWORD) \
    X(T_FALSE, "false", TK_KEYWORD) \
    X(T_FN, "fn", TK_KEYWORD) \
    X(T_FOR, "for", TK_KEYWORD) \
    X(T_IF, "if", TK_KEYWORD) \
    X(T_IMPORT, "import", TK_KEYWORD) \
    X(T_IN, "in", TK_KEYWORD) \
    X(T_LET, "let", TK_KEYWORD) \
    X(T_LINK, "link", TK_KEYWORD) \
    X(T_ON, "on", TK_KEYWORD) \
    X(T_RETURN, "return", TK_KEYWORD) \
    X(T_SCHEDULE, "schedule", TK_KEYWORD) \
    X(T_SELF, "self", TK_KEYWORD) \
    X(T_SPAWN, "spawn", TK_KEYWORD) \
    X(T_TRUE, "true", TK_KEYWORD) \
    X(T_WHILE, "while", TK_KEYWORD) \
    X(T_SEMI, ";", TK_PUNCT) \
    X(T_COLON, ":", TK_PUNCT) \
    X(T_COMMA, ",", TK_PUNCT) \
    X(T_DOT, ".", TK_PUNCT) \
    X(T_DOTDOT, "..", TK_PUNCT) \
    X(T_LPAREN, "(", TK_PUNCT) \
    X(T_RPAREN, ")", TK_PUNCT) \
    X(T_LBRACKET, "[", TK_PUNCT) \
    X(T_RBRACKET, "]", TK_PUNCT) \
    X(T_LBRACE, "{", TK_PUNCT) \
    X(T_RBRACE, "}", TK_PUNCT) \
    X(T_LT, "<", TK_PUNCT) \
    X(T_GT, ">", TK_PUNCT) \
    X(T_LE, "<=", TK_PUNCT) \
    X(T_GE, ">=", TK_PUNCT) \
    X(T_EQEQ, "==", TK_PUNCT) \
    X(T_NE, "!=", TK_PUNCT) \
    X(T_ASSIGN, "=", TK_PUNCT) \
    X(T_PLUSEQ, "+=", TK_PUNCT) \
    X(T_MINUSEQ, "-=", TK_PUNCT) \
    X(T_STAREQ, "*=", TK_PUNCT) \
    X(T_SLASHEQ, "/=", TK_PUNCT) \
    X(T_PLUS, "+", TK_PUNCT) \
    X(T_MINUS, "-", TK_PUNCT) \
    X(T_STAR, "*", TK_PUNCT) \
    X(T_SLASH, "/", TK_PUNCT) \
    X(T_PERCENT, "%", TK_PUNCT) \
    X(T_BANG, "!", TK_PUNCT) \
    X(T_ANDAND, "&&", TK_PUNCT) \
    X(T_OROR, "||", TK_PUNCT) \
    X(T_ARROW, "->", TK_PUNCT) \
    X(T_AT, "@", TK_PUNCT) \
    X(T_QUESTION, "?", TK_PUNCT)

/* Index of each token in the table (0-based). Bison numbers them 258 + index. */
enum {
#define X(id, text, cat) TOKIDX_##id,
    DAFT_TOKENS(X)
#undef X
    DAFT_TOKEN_COUNT
};
enum { DAFT_TOKEN_FIRST = 258, DAFT_TOKEN_EOF = 0 };
#define DAFT_TOK(id) (DAFT_TOKEN_FIRST + TOKIDX_##id)

/* Spelling and category of a bison token number (258 + index); "end of file" for 0. */
const char *daft_token_spelling(int token);
int daft_token_category(int token);
/* Bison's own name for a token number, for the consistency test. */
const char *daft_parser_token_name(int token);

/* For tests: lexes a whole source without parsing. Stores at most `max` tokens (kind,
 * span, value) and returns how many tokens there were; errors go to `diags`. */
struct DaftTok;
int daft_lex_tokens(DaftArena *arena, DaftSource *src, DaftDiagEngine *diags, int *kinds,
                    DaftSpan *spans, struct DaftTok *values, int max);

/* The location type of the parser (bison api.location.type): 1-based line and byte
 * column, last_* exclusive, plus the source file id. */
typedef struct DaftLoc {
    int first_line, first_column, last_line, last_column;
    int file;
} DaftLoc;

static inline DaftSpan daft_loc_span(DaftLoc l) {
    DaftSpan s = {l.file, {l.first_line, l.first_column}, {l.last_line, l.last_column}};
    return s;
}

/* The semantic value of a literal or identifier token. */
typedef struct DaftTok {
    const char *s; /* identifier or decoded string bytes (NUL-terminated copy) */
    size_t len;
    int64_t ival;
    double fval;
} DaftTok;

typedef struct DaftBracket {
    int token;
    DaftLoc loc;
} DaftBracket;

/* State of one parse: the lexer and parser share it (flex extra, bison parse-param). */
typedef struct DaftParser {
    DaftArena *arena;
    DaftSource *src;
    DaftDiagEngine *diags;
    DaftNode *program;

    /* lexer position: the next byte to read */
    int line, col;
    size_t offset;
    DaftLoc comment_start;

    /* the current token (the parser's lookahead when a syntax error is reported) */
    int cur_token;
    DaftLoc cur_loc;
    size_t cur_offset, cur_len;
    /* the token before it */
    int prev_token;
    DaftLoc prev_loc;
    /* first token of the statement or declaration being read (after ; { } or start) */
    int stmt_first;

    /* open brackets, innermost last; depth before the current token was read */
    DaftBracket brackets[DAFT_MAX_NESTING + 1];
    int depth, depth_before_cur;
    bool cur_unmatched;  /* current token is a closer with no opener */
    bool fatal;          /* nesting limit hit: stop and report nothing more */
    /* cascade suppression */
    bool cur_lex_error, prev_lex_error; /* a lexical error came with this token */
    bool eof_in_comment;                /* an unterminated comment ran to end of file */
    int last_error_line, tokens_since_error;
    /* the '{' reported as unclosed (its index in brackets and position; line 0: none): the
     * rest of the file is inside it for the parser, so nothing more is reported there */
    int unclosed_index, unclosed_line, unclosed_col;
    int syntax_errors;
} DaftParser;

#endif /* DAFT_PARSE_INTERNAL_H */
