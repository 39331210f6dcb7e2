/* daft_parse: runs the flex scanner and the bison parser over one source, then bounds the
 * depth of the resulting AST so that every later recursive pass is safe. */
#include "parse_internal.h"
#include "parser.h"

#define YYSTYPE DAFT_YYSTYPE
#define YYLTYPE DaftLoc
#include "lexer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

int daft_yyparse(void *scanner, DaftParser *p);
int daft_lex_raw(DAFT_YYSTYPE *lval, DaftLoc *lloc, void *scanner);

static const struct {
    const char *spelling;
    int category;
} token_table[] = {
#define X(id, text, cat) {text, cat},
    DAFT_TOKENS(X)
#undef X
};

const char *daft_token_spelling(int token) {
    if (token == 0)
        return "end of file";
    if (token < DAFT_TOKEN_FIRST || token >= DAFT_TOKEN_FIRST + DAFT_TOKEN_COUNT)
        return "?";
    return token_table[token - DAFT_TOKEN_FIRST].spelling;
}

int daft_token_category(int token) {
    if (token < DAFT_TOKEN_FIRST || token >= DAFT_TOKEN_FIRST + DAFT_TOKEN_COUNT)
        return TK_LITERAL;
    return token_table[token - DAFT_TOKEN_FIRST].category;
}

/* ---------------------------------------------------------------- depth limit */

typedef struct Slot {
    DaftNode **at;
    int depth;
} Slot;

typedef struct SlotStack {
    Slot *items;
    size_t len, cap;
} SlotStack;

static void slot_push(SlotStack *s, DaftNode **at, int depth) {
    if (!*at)
        return;
    if (s->len == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        Slot *items = realloc(s->items, sizeof(Slot) * s->cap);
        if (!items) {
            fputs("daft: out of memory\n", stderr);
            abort();
        }
        s->items = items;
    }
    s->items[s->len].at = at;
    s->items[s->len].depth = depth;
    s->len++;
}

static void push_list(SlotStack *s, DaftNodeList *l, int depth) {
    for (int i = l->len - 1; i >= 0; i--)
        slot_push(s, &l->items[i], depth);
}

/* Walks the tree without recursion; a node deeper than DAFT_MAX_AST_DEPTH is reported
 * (once) and cut off, leaving NULL in its place. */
static void limit_depth(DaftParser *p, DaftNode **root) {
    SlotStack s = {0};
    bool reported = false;
    slot_push(&s, root, 1);
    while (s.len > 0) {
        Slot cur = s.items[--s.len];
        DaftNode *n = *cur.at;
        if (cur.depth > DAFT_MAX_AST_DEPTH) {
            if (!reported) {
                daft_error(p->diags, n->span,
                           "expression or statement nested too deeply (limit %d levels)",
                           DAFT_MAX_AST_DEPTH);
                p->syntax_errors++;
                reported = true;
            }
            *cur.at = NULL;
            continue;
        }
        int d = cur.depth + 1;
        push_list(&s, &n->attrs, d);
        push_list(&s, &n->params, d);
        push_list(&s, &n->args, d);
        push_list(&s, &n->items, d);
        DaftNode **children[] = {&n->body, &n->els, &n->then, &n->iter, &n->cond, &n->callee,
                                 &n->rhs, &n->lhs, &n->target, &n->value, &n->type};
        for (size_t i = 0; i < sizeof children / sizeof *children; i++)
            slot_push(&s, children[i], d);
    }
    free(s.items);
}

/* ---------------------------------------------------------------- entry */

static DaftParser *parser_new(DaftArena *arena, DaftSource *src, DaftDiagEngine *diags) {
    DaftParser *p = calloc(1, sizeof(DaftParser));
    if (!p) {
        fputs("daft: out of memory\n", stderr);
        abort();
    }
    p->arena = arena;
    p->src = src;
    p->diags = diags;
    p->line = 1;
    p->col = 1;
    p->cur_token = T_SEMI; /* so that the first token starts a statement */
    p->cur_loc.file = src->id;
    p->cur_loc.first_line = p->cur_loc.last_line = 1;
    p->cur_loc.first_column = p->cur_loc.last_column = 1;
    return p;
}

int daft_lex_tokens(DaftArena *arena, DaftSource *src, DaftDiagEngine *diags, int *kinds,
                    DaftSpan *spans, DaftTok *values, int max) {
    DaftParser *p = parser_new(arena, src, diags);
    yyscan_t scanner;
    if (daft_yylex_init_extra(p, &scanner) != 0)
        abort();
    YY_BUFFER_STATE buf = daft_yy_scan_bytes(src->text, (int)src->size, scanner);
    int n = 0;
    for (;;) {
        DAFT_YYSTYPE val;
        DaftLoc loc;
        memset(&val, 0, sizeof val);
        int t = daft_lex_raw(&val, &loc, scanner);
        if (t == 0)
            break;
        if (n < max) {
            kinds[n] = t;
            spans[n] = daft_loc_span(loc);
            values[n] = val.tok;
        }
        n++;
    }
    daft_yy_delete_buffer(buf, scanner);
    daft_yylex_destroy(scanner);
    free(p);
    return n;
}

bool daft_parse(DaftArena *arena, DaftSource *src, DaftDiagEngine *diags, DaftModule *out) {
    int errors_before = diags->error_count;
    DaftParser *p = parser_new(arena, src, diags);
    DaftSpan whole = {src->id, {1, 1}, {1, 1}};
    p->program = daft_node_new(arena, DAFT_N_PROGRAM, whole);

    out->arena = arena;
    out->source = src;
    out->program = p->program;
    out->executable = false;

    if (src->size > (size_t)INT_MAX - 2) {
        daft_error(diags, whole, "source file is too large (limit %d bytes)", INT_MAX - 2);
        free(p);
        return false;
    }

    yyscan_t scanner;
    if (daft_yylex_init_extra(p, &scanner) != 0) {
        fputs("daft: out of memory\n", stderr);
        abort();
    }
    YY_BUFFER_STATE buf = daft_yy_scan_bytes(src->text, (int)src->size, scanner);
    daft_yyparse(scanner, p);
    daft_yy_delete_buffer(buf, scanner);
    daft_yylex_destroy(scanner);

    /* The program spans the whole file. */
    p->program->span.end.line = p->line;
    p->program->span.end.col = p->col;

    limit_depth(p, &out->program);
    if (!out->program) /* cannot happen: the root has depth 1 */
        out->program = p->program;

    /* Lexical errors are counted by the diagnostics engine only. */
    bool ok = p->syntax_errors == 0 && diags->error_count == errors_before;
    free(p);
    return ok;
}
