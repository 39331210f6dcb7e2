/* daft_ast_dump: the readable, stable tree that `daftc --emit=ast` prints and golden tests
 * compare. One node a line: kind name, its key fields, its source range
 * <line:col-line:col> (end exclusive), then flags; children follow indented two spaces,
 * single children labelled with their role ("cond: ", "lhs: "...). */
#include <daft/lang.h>

#include <stdlib.h>
#include <string.h>

static void dump_string(FILE *out, const char *s, size_t len) {
    fputc('"', out);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c == '\t')
            fputs("\\t", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* The shortest %g form that reads back as the same double. */
static void dump_double(FILE *out, double v) {
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    /* keep it recognisably a float */
    if (!strpbrk(buf, ".eEn"))
        strcat(buf, ".0");
    fputs(buf, out);
}

static void dump_node(const DaftNode *n, FILE *out, int indent, const char *label);

static void dump_child(const DaftNode *n, FILE *out, int indent, const char *label) {
    if (n)
        dump_node(n, out, indent, label);
}

static void dump_list(const DaftNodeList *l, FILE *out, int indent) {
    for (int i = 0; i < l->len; i++)
        dump_child(l->items[i], out, indent, NULL);
}

static void dump_shape(const DaftNode *n, FILE *out) {
    fputs(" shape=[", out);
    for (int i = 0; i < n->args.len; i++) {
        const DaftNode *d = n->args.items[i];
        if (i)
            fputs(", ", out);
        if (!d)
            fputs("<error>", out);
        else if (d->kind == DAFT_N_DIM_ANY)
            fputc('?', out);
        else if (d->kind == DAFT_N_NAME)
            fputs(d->name, out);
        else
            fprintf(out, "%lld", (long long)d->ival);
    }
    fputc(']', out);
}

static void dump_node(const DaftNode *n, FILE *out, int indent, const char *label) {
    fprintf(out, "%*s%s%s", indent * 2, "", label ? label : "", daft_node_kind_name(n->kind));
    switch (n->kind) {
    case DAFT_N_LINK:
    case DAFT_N_STR_LIT:
        fputc(' ', out);
        dump_string(out, n->name ? n->name : "", n->name ? n->str_len : 0);
        break;
    case DAFT_N_INT_LIT:
        fprintf(out, " %lld", (long long)n->ival);
        break;
    case DAFT_N_FLOAT_LIT:
        fputc(' ', out);
        dump_double(out, n->fval);
        break;
    case DAFT_N_BOOL_LIT:
        fputs(n->ival ? " true" : " false", out);
        break;
    case DAFT_N_UNARY:
    case DAFT_N_BINARY:
        fprintf(out, " %s", daft_op_name(n->op));
        break;
    case DAFT_N_ASSIGN:
        fprintf(out, " %s%s", n->op == DAFT_OP_ASSIGN ? "" : daft_op_name(n->op), "=");
        break;
    default:
        if (n->name)
            fprintf(out, " %s", n->name);
        break;
    }
    fprintf(out, " <%d:%d-%d:%d>", n->span.begin.line, n->span.begin.col, n->span.end.line,
            n->span.end.col);
    if (n->alias)
        fprintf(out, " as=%s", n->alias);
    if (n->kind == DAFT_N_TYPE_TENSOR && n->has_shape)
        dump_shape(n, out);
    if (n->is_compiled)
        fputs(" compiled", out);
    if (n->is_extern)
        fputs(" extern", out);
    if (n->symbol) {
        fputs(" symbol=", out);
        dump_string(out, n->symbol, strlen(n->symbol));
    }
    fputc('\n', out);

    int in = indent + 1;
    bool is_decl = n->kind == DAFT_N_METHOD || n->kind == DAFT_N_SCHEDULE || n->kind == DAFT_N_FN;
    dump_child(n->callee, out, in, "callee: ");
    dump_child(n->target, out, in, "target: ");
    dump_list(&n->attrs, out, in);
    dump_list(&n->params, out, in);
    if (n->kind != DAFT_N_TYPE_TENSOR)
        dump_list(&n->args, out, in);
    dump_child(n->type, out, in, is_decl ? "result: " : NULL);
    dump_child(n->lhs, out, in, n->kind == DAFT_N_RANGE ? "start: " : n->kind == DAFT_N_UNARY ? NULL : "lhs: ");
    dump_child(n->rhs, out, in, n->kind == DAFT_N_RANGE ? "end: " : n->kind == DAFT_N_INDEX ? "index: " : "rhs: ");
    dump_child(n->value, out, in, n->kind == DAFT_N_COMPREHENSION ? "element: " : NULL);
    dump_child(n->iter, out, in, "iter: ");
    dump_child(n->cond, out, in, "cond: ");
    dump_child(n->then, out, in, "then: ");
    dump_child(n->els, out, in, "else: ");
    dump_child(n->body, out, in, NULL);
    dump_list(&n->items, out, in);
}

void daft_ast_dump(const DaftNode *node, FILE *out) {
    if (node)
        dump_node(node, out, 0, NULL);
}
