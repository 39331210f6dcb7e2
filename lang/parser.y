/* The daft parser: a pure bison LALR(1) parser with locations, implementing
 * lang/grammar.ebnf rule by rule. Actions only build AST nodes (every node gets its full
 * source range, and name_span where a name is written); semantic checks live in sema.
 * The only errors reported here are syntax errors, including the few grammar rules that
 * are written as "IDENT then check its spelling" to avoid reserving words (tensor<...>,
 * Ref<...>, on gpu|node|cpu) and the lvalue rule of assignments.
 *
 * Syntax errors are worded like clang's (see yyreport_syntax_error below). Recovery: the
 * rules `stmts: stmts error`, `members: members error` and `program: program error` end
 * the broken statement or declaration where the error was found; bison then drops tokens
 * until one can start the next statement or declaration (and reports nothing more until
 * three tokens have been read), so a missing ';' costs no following statement. A block
 * met while recovering (`stmts error block`...) is skipped whole, so that its '}' does not
 * close the enclosing construct. Errors that are most likely consequences of an earlier
 * one are not reported: right after a lexical error, at end of file after an unterminated
 * comment, and on the line of the previous syntax error within a few tokens of it. Recursion in the grammar
 * is either left recursion or bracketed (brackets nest at most DAFT_MAX_NESTING deep), so
 * the parser stack stays small on any input. */

%code requires {
#include "parse_internal.h"
}

%code {
#include <string.h>

int daft_lex_raw(DAFT_YYSTYPE *lval, DaftLoc *lloc, void *scanner);
DaftParser *daft_yyget_extra(void *scanner);
static int daft_yylex(DAFT_YYSTYPE *lval, DaftLoc *lloc, void *scanner);
static void daft_yyerror(DaftLoc *loc, void *scanner, DaftParser *p, const char *msg);

/* A node's location is that of its first through last non-empty right-hand-side symbol,
 * so an empty `attrs` or `placements` does not stretch it back to the previous token. */
static bool loc_empty(const DaftLoc *l) {
    return l->first_line == l->last_line && l->first_column == l->last_column;
}
static void lloc_default(DaftLoc *cur, const DaftLoc *rhs, int n) {
    int a = 1, b = n;
    while (a <= n && loc_empty(&rhs[a]))
        a++;
    if (a > n) {
        cur->file = rhs[0].file;
        cur->first_line = cur->last_line = rhs[0].last_line;
        cur->first_column = cur->last_column = rhs[0].last_column;
        return;
    }
    while (loc_empty(&rhs[b]))
        b--;
    cur->file = rhs[a].file;
    cur->first_line = rhs[a].first_line;
    cur->first_column = rhs[a].first_column;
    cur->last_line = rhs[b].last_line;
    cur->last_column = rhs[b].last_column;
}
#define YYLLOC_DEFAULT(Cur, Rhs, N) lloc_default(&(Cur), (Rhs), (N))

#define SP(l) daft_loc_span(l)

static DaftNode *mk(DaftParser *p, DaftNodeKind kind, DaftLoc loc) {
    return daft_node_new(p->arena, kind, SP(loc));
}
static DaftNode *mk_named(DaftParser *p, DaftNodeKind kind, DaftLoc loc, DaftTok name, DaftLoc name_loc) {
    DaftNode *n = mk(p, kind, loc);
    n->name = name.s;
    n->name_span = SP(name_loc);
    return n;
}
static void push(DaftParser *p, DaftNodeList *list, DaftNode *n) {
    if (n)
        daft_node_list_push(p->arena, list, n);
}
static DaftNodeList list1(DaftParser *p, DaftNode *n) {
    DaftNodeList l = {0};
    push(p, &l, n);
    return l;
}
static void syntax_error(DaftParser *p, DaftSpan span, const char *fmt, const char *arg) {
    p->syntax_errors++;
    daft_error(p->diags, span, fmt, arg);
}
static DaftNode *binary(DaftParser *p, DaftLoc loc, DaftLoc op_loc, DaftOp op, DaftNode *lhs,
                        DaftNode *rhs) {
    DaftNode *n = mk(p, DAFT_N_BINARY, loc);
    n->name_span = SP(op_loc); /* diagnostics about the operator point at it */
    n->op = op;
    n->lhs = lhs;
    n->rhs = rhs;
    return n;
}
static DaftNode *make_import(DaftParser *p, DaftLoc loc, DaftNodeList path, DaftLoc path_loc) {
    size_t len = 0;
    for (int i = 0; i < path.len; i++)
        len += strlen(path.items[i]->name) + 1;
    char *s = daft_arena_alloc(p->arena, len + 1), *q = s;
    for (int i = 0; i < path.len; i++) {
        if (i)
            *q++ = '.';
        size_t k = strlen(path.items[i]->name);
        memcpy(q, path.items[i]->name, k);
        q += k;
    }
    *q = '\0';
    DaftNode *n = mk(p, DAFT_N_IMPORT, loc);
    n->name = s;
    n->name_span = SP(path_loc);
    return n;
}
/* type: IDENT "<" type [ "," shape ] ">" — only tensor and Ref take arguments. */
static DaftNode *make_generic(DaftParser *p, DaftLoc loc, DaftTok name, DaftLoc name_loc,
                              DaftNode *arg, DaftNodeList *shape, DaftLoc shape_loc) {
    if (strcmp(name.s, "tensor") == 0) {
        DaftNode *n = mk_named(p, DAFT_N_TYPE_TENSOR, loc, name, name_loc);
        n->name = NULL;
        if (arg->kind == DAFT_N_TYPE_NAME) {
            n->name = arg->name;
            n->name_span = arg->span;
        } else {
            syntax_error(p, arg->span, "expected an element type name such as f32 in %s<...>", "tensor");
        }
        if (shape) {
            n->args = *shape;
            n->has_shape = true;
        }
        return n;
    }
    if (strcmp(name.s, "Ref") == 0) {
        DaftNode *n = mk_named(p, DAFT_N_TYPE_REF, loc, name, name_loc);
        n->name = NULL;
        n->type = arg;
        if (shape)
            syntax_error(p, SP(shape_loc), "'%s' takes exactly one type argument", "Ref");
        return n;
    }
    DaftNode *n = mk_named(p, DAFT_N_TYPE_NAME, loc, name, name_loc);
    daft_error(p->diags, SP(name_loc),
               "'%s' does not take type arguments (only tensor<...> and Ref<...> do)", name.s);
    p->syntax_errors++;
    return n;
}
/* lvalue = IDENT | "self" "." IDENT | postfix "[" expr "]" */
static DaftNode *make_assign(DaftParser *p, DaftLoc loc, DaftNode *target, DaftOp op, DaftNode *value) {
    bool ok = target->kind == DAFT_N_NAME || target->kind == DAFT_N_INDEX ||
              (target->kind == DAFT_N_FIELD_ACCESS && target->lhs && target->lhs->kind == DAFT_N_SELF);
    /* after a syntax error on its line, the "target" is what recovery left of it
     * ('let xs: list[i64] = ...'): no second error there */
    bool recovered = p->syntax_errors > 0 && p->last_error_line == target->span.begin.line;
    if (!ok && !recovered)
        syntax_error(p, target->span,
                     "cannot assign to this expression (only a variable, 'self.field' or an element "
                     "'x[i]' can be %s)", "assigned");
    DaftNode *n = mk(p, DAFT_N_ASSIGN, loc);
    n->target = target;
    n->op = op;
    n->value = value;
    return n;
}
/* placement = "on" ( "gpu" | "node" | "cpu" ) [ "(" expr ")" ] */
static DaftNode *make_placement(DaftParser *p, DaftLoc loc, DaftTok name, DaftLoc name_loc, DaftNode *value) {
    if (strcmp(name.s, "gpu") != 0 && strcmp(name.s, "node") != 0 && strcmp(name.s, "cpu") != 0)
        syntax_error(p, SP(name_loc), "expected 'gpu', 'node' or 'cpu' after '%s'", "on");
    DaftNode *n = mk_named(p, DAFT_N_PLACEMENT, loc, name, name_loc);
    n->value = value;
    return n;
}
/* Ends every If of an else-if chain where the whole chain ends, as if it had been
 * parsed by the right-recursive rule of the grammar. */
static void finish_if_chain(DaftNode *first, DaftSpan whole) {
    for (DaftNode *n = first; n && n->kind == DAFT_N_IF; n = n->els)
        n->span.end = whole.end;
}
}

%define api.pure full
%define api.prefix {daft_yy}
%define api.location.type {DaftLoc}
%define parse.error custom
%define parse.lac full
%locations
%lex-param {void *scanner}
%parse-param {void *scanner} {DaftParser *p}

%initial-action {
    @$.file = p->src->id;
    @$.first_line = @$.last_line = 1;
    @$.first_column = @$.last_column = 1;
}

%union {
    DaftNode *node;
    DaftNodeList list;
    DaftTok tok;
    DaftOp op;
    bool flag;
    struct { DaftNode *first, *last; } chain;
}

/* Same order as DAFT_TOKENS in parse_internal.h (checked by static assertions). */
%token <tok> T_IDENT "identifier"
%token <tok> T_INT "integer literal"
%token <tok> T_FLOAT "floating-point literal"
%token <tok> T_STRING "string literal"
%token T_ACTOR "actor"
%token T_AS "as"
%token T_BREAK "break"
%token T_COMPILED "compiled"
%token T_CONST "const"
%token T_CONTINUE "continue"
%token T_ELSE "else"
%token T_EXTERN "extern"
%token T_FALSE "false"
%token T_FN "fn"
%token T_FOR "for"
%token T_IF "if"
%token T_IMPORT "import"
%token T_IN "in"
%token T_LET "let"
%token T_LINK "link"
%token T_ON "on"
%token T_RETURN "return"
%token T_SCHEDULE "schedule"
%token T_SELF "self"
%token T_SPAWN "spawn"
%token T_TRUE "true"
%token T_WHILE "while"
%token T_SEMI ";"
%token T_COLON ":"
%token T_COMMA ","
%token T_DOT "."
%token T_DOTDOT ".."
%token T_LPAREN "("
%token T_RPAREN ")"
%token T_LBRACKET "["
%token T_RBRACKET "]"
%token T_LBRACE "{"
%token T_RBRACE "}"
%token T_LT "<"
%token T_GT ">"
%token T_LE "<="
%token T_GE ">="
%token T_EQEQ "=="
%token T_NE "!="
%token T_ASSIGN "="
%token T_PLUSEQ "+="
%token T_MINUSEQ "-="
%token T_STAREQ "*="
%token T_SLASHEQ "/="
%token T_PLUS "+"
%token T_MINUS "-"
%token T_STAR "*"
%token T_SLASH "/"
%token T_PERCENT "%"
%token T_BANG "!"
%token T_ANDAND "&&"
%token T_OROR "||"
%token T_ARROW "->"
%token T_AT "@"
%token T_QUESTION "?"

/* `spawn W() on gpu (x)`: the parenthesis is the placement's argument, not a call. */
%precedence PLACEMENT_BARE
%precedence "("

%type <node> toplevel import link const_decl actor_decl field_decl member method_decl
%type <node> attribute attr_arg schedule_decl fn_decl param type dim block stmt if_stmt
%type <node> expr or_expr and_expr cmp_expr range_expr add_expr mul_expr unary postfix
%type <node> primary arg named_arg placement opt_type opt_result
%type <list> module_path actor_res named_args members attrs attr_args opt_params params
%type <list> shape dims stmts prefix_ops opt_args args list_elems placements
%type <flag> opt_extern opt_compiled
%type <op> assign_op cmp_op
%type <chain> if_chain

%start program

%%

program
    : %empty
    | program toplevel          { push(p, &p->program->items, $2); }
    | program error
    | program error block
    ;

toplevel
    : import | link | const_decl | actor_decl | schedule_decl | fn_decl
    ;

import
    : "import" module_path ";"  { $$ = make_import(p, @$, $2, @2); }
    | "import" module_path "as" "identifier" ";"
                                { $$ = make_import(p, @$, $2, @2); $$->alias = $4.s; }
    ;

module_path
    : "identifier"              { $$ = list1(p, mk_named(p, DAFT_N_NAME, @1, $1, @1)); }
    | module_path "." "identifier"
                                { $$ = $1; push(p, &$$, mk_named(p, DAFT_N_NAME, @3, $3, @3)); }
    ;

link
    : "link" "string literal" ";"
                                { $$ = mk_named(p, DAFT_N_LINK, @$, $2, @2); $$->str_len = $2.len; }
    ;

const_decl
    : "const" "identifier" opt_type "=" expr ";"
                                { $$ = mk_named(p, DAFT_N_CONST, @$, $2, @2); $$->type = $3; $$->value = $5; }
    ;

opt_type
    : %empty                    { $$ = NULL; }
    | ":" type                  { $$ = $2; }
    ;

actor_decl
    : "actor" "identifier" actor_res "{" members "}"
                                { $$ = mk_named(p, DAFT_N_ACTOR, @$, $2, @2); $$->args = $3; $$->items = $5; }
    ;

actor_res
    : %empty                    { $$ = (DaftNodeList){0}; }
    | "(" ")"                   { $$ = (DaftNodeList){0}; }
    | "(" named_args ")"        { $$ = $2; }
    ;

named_args
    : named_arg                 { $$ = list1(p, $1); }
    | named_args "," named_arg  { $$ = $1; push(p, &$$, $3); }
    ;

members
    : %empty                    { $$ = (DaftNodeList){0}; }
    | members member            { $$ = $1; push(p, &$$, $2); }
    | members error             { $$ = $1; }
    | members error block       { $$ = $1; }
    ;

member
    : field_decl | method_decl
    ;

field_decl
    : "identifier" ":" type ";" { $$ = mk_named(p, DAFT_N_FIELD, @$, $1, @1); $$->type = $3; }
    ;

method_decl
    : attrs opt_extern "fn" "identifier" "(" opt_params ")" opt_result block
        { $$ = mk_named(p, DAFT_N_METHOD, @$, $4, @4); $$->attrs = $1; $$->is_extern = $2;
          $$->params = $6; $$->type = $8; $$->body = $9; }
    | attrs opt_extern "fn" "identifier" "(" opt_params ")" opt_result "=" "string literal" ";"
        { $$ = mk_named(p, DAFT_N_METHOD, @$, $4, @4); $$->attrs = $1; $$->is_extern = $2;
          $$->params = $6; $$->type = $8; $$->symbol = $10.s; }
    ;

opt_extern
    : %empty                    { $$ = false; }
    | "extern"                  { $$ = true; }
    ;

attrs
    : %empty                    { $$ = (DaftNodeList){0}; }
    | attrs attribute           { $$ = $1; push(p, &$$, $2); }
    ;

attribute
    : "@" "identifier"          { $$ = mk_named(p, DAFT_N_ATTRIBUTE, @$, $2, @2); }
    | "@" "identifier" "(" ")"  { $$ = mk_named(p, DAFT_N_ATTRIBUTE, @$, $2, @2); }
    | "@" "identifier" "(" attr_args ")"
                                { $$ = mk_named(p, DAFT_N_ATTRIBUTE, @$, $2, @2); $$->args = $4; }
    ;

attr_args
    : attr_arg                  { $$ = list1(p, $1); }
    | attr_args "," attr_arg    { $$ = $1; push(p, &$$, $3); }
    ;

attr_arg
    : type | named_arg
    | "integer literal"         { $$ = mk(p, DAFT_N_INT_LIT, @$); $$->ival = $1.ival; }
    ;

schedule_decl
    : attrs opt_compiled "schedule" "identifier" "(" opt_params ")" opt_result block
        { $$ = mk_named(p, DAFT_N_SCHEDULE, @$, $4, @4); $$->attrs = $1; $$->is_compiled = $2;
          $$->params = $6; $$->type = $8; $$->body = $9; }
    ;

opt_compiled
    : %empty                    { $$ = false; }
    | "compiled"                { $$ = true; }
    ;

fn_decl
    : "fn" "identifier" "(" opt_params ")" opt_result block
        { $$ = mk_named(p, DAFT_N_FN, @$, $2, @2); $$->params = $4; $$->type = $6; $$->body = $7; }
    | "extern" "fn" "identifier" "(" opt_params ")" opt_result "=" "string literal" ";"
        { $$ = mk_named(p, DAFT_N_FN, @$, $3, @3); $$->params = $5; $$->type = $7;
          $$->is_extern = true; $$->symbol = $9.s; }
    ;

opt_params
    : %empty                    { $$ = (DaftNodeList){0}; }
    | params
    | params ","
    ;

params
    : param                     { $$ = list1(p, $1); }
    | params "," param          { $$ = $1; push(p, &$$, $3); }
    ;

param
    : "identifier" ":" type     { $$ = mk_named(p, DAFT_N_PARAM, @$, $1, @1); $$->type = $3; }
    ;

opt_result
    : %empty                    { $$ = NULL; }
    | "->" type                 { $$ = $2; }
    ;

type
    : "identifier"
        { if (strcmp($1.s, "tensor") == 0) { $$ = mk(p, DAFT_N_TYPE_TENSOR, @$); }
          else $$ = mk_named(p, DAFT_N_TYPE_NAME, @$, $1, @1); }
    | "identifier" "<" type ">" { $$ = make_generic(p, @$, $1, @1, $3, NULL, @3); }
    | "identifier" "<" type "," shape ">"
                                { $$ = make_generic(p, @$, $1, @1, $3, &$5, @5); }
    | "[" type "]"              { $$ = mk(p, DAFT_N_TYPE_LIST, @$); $$->type = $2; }
    ;

shape
    : "[" "]"                   { $$ = (DaftNodeList){0}; }
    | "[" dims "]"              { $$ = $2; }
    ;

dims
    : dim                       { $$ = list1(p, $1); }
    | dims "," dim              { $$ = $1; push(p, &$$, $3); }
    ;

dim
    : "integer literal"         { $$ = mk(p, DAFT_N_INT_LIT, @$); $$->ival = $1.ival; }
    | "identifier"              { $$ = mk_named(p, DAFT_N_NAME, @$, $1, @1); } /* a constant */
    | "?"                       { $$ = mk(p, DAFT_N_DIM_ANY, @$); }
    ;

block
    : "{" stmts "}"             { $$ = mk(p, DAFT_N_BLOCK, @$); $$->items = $2; }
    ;

stmts
    : %empty                    { $$ = (DaftNodeList){0}; }
    | stmts stmt                { $$ = $1; push(p, &$$, $2); }
    | stmts error               { $$ = $1; }
    | stmts error block         { $$ = $1; }
    ;

stmt
    : "let" "identifier" opt_type "=" expr ";"
                                { $$ = mk_named(p, DAFT_N_LET, @$, $2, @2); $$->type = $3; $$->value = $5; }
    | postfix assign_op expr ";" { $$ = make_assign(p, @$, $1, $2, $3); }
    | "return" ";"              { $$ = mk(p, DAFT_N_RETURN, @$); }
    | "return" expr ";"         { $$ = mk(p, DAFT_N_RETURN, @$); $$->value = $2; }
    | if_stmt
    | "for" "identifier" "in" expr block
                                { $$ = mk_named(p, DAFT_N_FOR, @$, $2, @2); $$->iter = $4; $$->body = $5; }
    | "while" expr block        { $$ = mk(p, DAFT_N_WHILE, @$); $$->cond = $2; $$->body = $3; }
    | "break" ";"               { $$ = mk(p, DAFT_N_BREAK, @$); }
    | "continue" ";"            { $$ = mk(p, DAFT_N_CONTINUE, @$); }
    | expr ";"                  { $$ = mk(p, DAFT_N_EXPR_STMT, @$); $$->value = $1; }
    ;

assign_op
    : "="                       { $$ = DAFT_OP_ASSIGN; }
    | "+="                      { $$ = DAFT_OP_ADD; }
    | "-="                      { $$ = DAFT_OP_SUB; }
    | "*="                      { $$ = DAFT_OP_MUL; }
    | "/="                      { $$ = DAFT_OP_DIV; }
    ;

/* if_stmt = "if" expr block [ "else" ( block | if_stmt ) ], parsed left-recursively so
 * that a long else-if chain does not grow the parser stack. */
if_stmt
    : if_chain                  { $$ = $1.first; finish_if_chain($$, SP(@$)); }
    | if_chain "else" block     { $1.last->els = $3; $$ = $1.first; finish_if_chain($$, SP(@$)); }
    ;

if_chain
    : "if" expr block
        { DaftNode *n = mk(p, DAFT_N_IF, @$); n->cond = $2; n->then = $3; $$.first = $$.last = n; }
    | if_chain "else" "if" expr block
        { DaftLoc l = @3; l.last_line = @5.last_line; l.last_column = @5.last_column;
          DaftNode *n = mk(p, DAFT_N_IF, l); n->cond = $4; n->then = $5;
          $1.last->els = n; $$.first = $1.first; $$.last = n; }
    ;

expr
    : or_expr
    ;

or_expr
    : and_expr
    | or_expr "||" and_expr     { $$ = binary(p, @$, @2, DAFT_OP_OR, $1, $3); }
    ;

and_expr
    : cmp_expr
    | and_expr "&&" cmp_expr    { $$ = binary(p, @$, @2, DAFT_OP_AND, $1, $3); }
    ;

cmp_expr
    : range_expr
    | range_expr cmp_op range_expr
                                { $$ = binary(p, @$, @2, $2, $1, $3); }
    ;

cmp_op
    : "=="                      { $$ = DAFT_OP_EQ; }
    | "!="                      { $$ = DAFT_OP_NE; }
    | "<"                       { $$ = DAFT_OP_LT; }
    | "<="                      { $$ = DAFT_OP_LE; }
    | ">"                       { $$ = DAFT_OP_GT; }
    | ">="                      { $$ = DAFT_OP_GE; }
    ;

range_expr
    : add_expr
    | add_expr ".." add_expr    { $$ = mk(p, DAFT_N_RANGE, @$); $$->lhs = $1; $$->rhs = $3; }
    ;

add_expr
    : mul_expr
    | add_expr "+" mul_expr     { $$ = binary(p, @$, @2, DAFT_OP_ADD, $1, $3); }
    | add_expr "-" mul_expr     { $$ = binary(p, @$, @2, DAFT_OP_SUB, $1, $3); }
    ;

mul_expr
    : unary
    | mul_expr "*" unary        { $$ = binary(p, @$, @2, DAFT_OP_MUL, $1, $3); }
    | mul_expr "/" unary        { $$ = binary(p, @$, @2, DAFT_OP_DIV, $1, $3); }
    | mul_expr "%" unary        { $$ = binary(p, @$, @2, DAFT_OP_MOD, $1, $3); }
    ;

/* unary = ( "-" | "!" ) unary | postfix, with the prefix operators collected first so
 * that `- - - ... x` does not grow the parser stack. */
unary
    : postfix
    | prefix_ops postfix
        { DaftNode *inner = $2;
          for (int i = $1.len - 1; i >= 0; i--) {
              DaftNode *u = $1.items[i];
              u->lhs = inner;
              u->span.end = inner->span.end;
              inner = u;
          }
          $$ = inner; }
    ;

prefix_ops
    : "-"                       { $$ = list1(p, mk(p, DAFT_N_UNARY, @1)); $$.items[0]->op = DAFT_OP_NEG; }
    | "!"                       { $$ = list1(p, mk(p, DAFT_N_UNARY, @1)); $$.items[0]->op = DAFT_OP_NOT; }
    | prefix_ops "-"            { $$ = $1; push(p, &$$, mk(p, DAFT_N_UNARY, @2)); $$.items[$$.len - 1]->op = DAFT_OP_NEG; }
    | prefix_ops "!"            { $$ = $1; push(p, &$$, mk(p, DAFT_N_UNARY, @2)); $$.items[$$.len - 1]->op = DAFT_OP_NOT; }
    ;

postfix
    : primary
    | postfix "(" opt_args ")"  { $$ = mk(p, DAFT_N_CALL, @$); $$->callee = $1; $$->args = $3; }
    | postfix "." "identifier"  { $$ = mk_named(p, DAFT_N_FIELD_ACCESS, @$, $3, @3); $$->lhs = $1; }
    | postfix "[" expr "]"      { $$ = mk(p, DAFT_N_INDEX, @$); $$->lhs = $1; $$->rhs = $3; }
    ;

opt_args
    : %empty                    { $$ = (DaftNodeList){0}; }
    | args
    | args ","
    ;

args
    : arg                       { $$ = list1(p, $1); }
    | args "," arg              { $$ = $1; push(p, &$$, $3); }
    ;

arg
    : expr | named_arg
    ;

named_arg
    : "identifier" "=" expr     { $$ = mk_named(p, DAFT_N_NAMED_ARG, @$, $1, @1); $$->value = $3; }
    ;

primary
    : "integer literal"         { $$ = mk(p, DAFT_N_INT_LIT, @$); $$->ival = $1.ival; }
    | "floating-point literal"  { $$ = mk(p, DAFT_N_FLOAT_LIT, @$); $$->fval = $1.fval; }
    | "string literal"          { $$ = mk(p, DAFT_N_STR_LIT, @$); $$->name = $1.s; $$->str_len = $1.len; }
    | "?"                       { $$ = mk(p, DAFT_N_DIM_ANY, @$); } /* only meaningful in `shape = [...]` */
    | "true"                    { $$ = mk(p, DAFT_N_BOOL_LIT, @$); $$->ival = 1; }
    | "false"                   { $$ = mk(p, DAFT_N_BOOL_LIT, @$); $$->ival = 0; }
    | "identifier"              { $$ = mk_named(p, DAFT_N_NAME, @$, $1, @1); }
    | "self"                    { $$ = mk(p, DAFT_N_SELF, @$); }
    | "(" expr ")"              { $$ = $2; }
    | "[" "]"                   { $$ = mk(p, DAFT_N_LIST, @$); }
    | "[" list_elems "]"        { $$ = mk(p, DAFT_N_LIST, @$); $$->items = $2; }
    | "[" list_elems "," "]"    { $$ = mk(p, DAFT_N_LIST, @$); $$->items = $2; }
    | "[" expr "for" "identifier" "in" expr "]"
        { $$ = mk_named(p, DAFT_N_COMPREHENSION, @$, $4, @4); $$->value = $2; $$->iter = $6; }
    | "[" expr "for" "identifier" "in" expr "if" expr "]"
        { $$ = mk_named(p, DAFT_N_COMPREHENSION, @$, $4, @4); $$->value = $2; $$->iter = $6; $$->cond = $8; }
    | "spawn" "identifier" "(" opt_args ")" placements
        { $$ = mk_named(p, DAFT_N_SPAWN, @$, $2, @2); $$->args = $4; $$->items = $6; }
    ;

list_elems
    : expr                      { $$ = list1(p, $1); }
    | list_elems "," expr       { $$ = $1; push(p, &$$, $3); }
    ;

placements
    : %empty                    { $$ = (DaftNodeList){0}; }
    | placements placement      { $$ = $1; push(p, &$$, $2); }
    ;

placement
    : "on" "identifier" %prec PLACEMENT_BARE
        { $$ = make_placement(p, @$, $2, @2, NULL); }
    | "on" "identifier" "(" expr ")"
        { $$ = make_placement(p, @$, $2, @2, $4); }
    ;

%%

/* The token table and bison's numbering cannot drift apart. */
#define X(id, text, cat) \
    _Static_assert(id == DAFT_TOKEN_FIRST + TOKIDX_##id, "parser.y %token order differs from DAFT_TOKENS at " #id); \
    _Static_assert((int)YYSYMBOL_##id == 3 + TOKIDX_##id, "bison symbol numbering differs at " #id);
DAFT_TOKENS(X)
#undef X
/* + 1: the PLACEMENT_BARE precedence pseudo-token */
_Static_assert(YYNTOKENS == 3 + DAFT_TOKEN_COUNT + 1, "parser.y declares a token that DAFT_TOKENS lacks");

const char *daft_parser_token_name(int token) {
    if (token == 0)
        return yysymbol_name(YYSYMBOL_YYEOF);
    if (token < DAFT_TOKEN_FIRST || token >= DAFT_TOKEN_FIRST + DAFT_TOKEN_COUNT)
        return NULL;
    return yysymbol_name((yysymbol_kind_t)(token - DAFT_TOKEN_FIRST + 3));
}

/* ---------------------------------------------------------------- lexer bridge */

static int opener_of(int closer) {
    return closer == T_RPAREN ? T_LPAREN : closer == T_RBRACKET ? T_LBRACKET : T_LBRACE;
}
static const char *closer_spelling(int opener) {
    return opener == T_LPAREN ? ")" : opener == T_LBRACKET ? "]" : "}";
}

/* Wraps the flex scanner: remembers the current and previous token for error messages,
 * tracks open brackets (for "to match this '('" notes) and enforces the nesting limit. */
static int daft_yylex(DAFT_YYSTYPE *lval, DaftLoc *lloc, void *scanner) {
    DaftParser *p = daft_yyget_extra(scanner);
    int t;
    if (p->fatal) {
        *lloc = p->cur_loc;
        lloc->first_line = lloc->last_line;
        lloc->first_column = lloc->last_column;
        t = 0;
    } else {
        int before = p->diags->len;
        t = daft_lex_raw(lval, lloc, scanner);
        p->prev_lex_error = p->cur_lex_error;
        p->cur_lex_error = p->diags->len != before;
    }
    p->tokens_since_error++;
    if (p->cur_token == T_SEMI || p->cur_token == T_LBRACE || p->cur_token == T_RBRACE)
        p->stmt_first = t;
    p->prev_token = p->cur_token;
    p->prev_loc = p->cur_loc;
    p->cur_token = t;
    p->cur_loc = *lloc;
    p->depth_before_cur = p->depth;
    p->cur_unmatched = false;
    switch (t) {
    case T_LPAREN:
    case T_LBRACKET:
    case T_LBRACE:
        if (p->depth == DAFT_MAX_NESTING) {
            daft_error(p->diags, SP(*lloc), "nesting too deep (limit %d)", DAFT_MAX_NESTING);
            p->syntax_errors++;
            p->fatal = true;
            lloc->first_line = lloc->last_line;
            lloc->first_column = lloc->last_column;
            p->cur_token = 0;
            p->cur_loc = *lloc;
            return 0;
        }
        p->brackets[p->depth].token = t;
        p->brackets[p->depth].loc = *lloc;
        p->depth++;
        break;
    case T_RPAREN:
    case T_RBRACKET:
    case T_RBRACE: {
        int i = p->depth - 1;
        while (i >= 0 && p->brackets[i].token != opener_of(t))
            i--;
        if (i < 0)
            p->cur_unmatched = true;
        else
            p->depth = i;
        break;
    }
    default:
        break;
    }
    return t;
}

/* Only called for bison's own failures ("memory exhausted"); syntax errors go through
 * yyreport_syntax_error. */
static void daft_yyerror(DaftLoc *loc, void *scanner, DaftParser *p, const char *msg) {
    (void)scanner;
    (void)msg;
    if (p->fatal)
        return;
    p->syntax_errors++;
    p->fatal = true;
    daft_error(p->diags, SP(*loc), "program too deeply nested for the parser");
}

/* ---------------------------------------------------------------- syntax errors */

static int sym_token(yysymbol_kind_t sym) {
    return sym == YYSYMBOL_YYEOF ? 0 : (int)sym - 3 + DAFT_TOKEN_FIRST;
}

static const char *quoted(char *buf, size_t size, int token) {
    snprintf(buf, size, daft_token_category(token) == TK_LITERAL || token == 0 ? "%s" : "'%s'",
             daft_token_spelling(token));
    return buf;
}

/* "identifier 'foo'", "'}'", "end of file", "integer literal" */
static void describe_cur(DaftParser *p, char *buf, size_t size) {
    if (p->cur_token == T_IDENT) {
        size_t n = p->cur_len > 40 ? 40 : p->cur_len;
        snprintf(buf, size, "identifier '%.*s%s'", (int)n, p->src->text + p->cur_offset,
                 p->cur_len > 40 ? "..." : "");
    } else {
        quoted(buf, size, p->cur_token);
    }
}

static bool is_cmp(int t) {
    return t == T_LT || t == T_GT || t == T_LE || t == T_GE || t == T_EQEQ || t == T_NE;
}

static const char *after_what(int first) {
    switch (first) {
    case T_IMPORT: return "import declaration";
    case T_LINK: return "link declaration";
    case T_EXTERN: return "extern declaration";
    case T_BREAK: return "'break'";
    case T_CONTINUE: return "'continue'";
    case T_RETURN: return "'return'";
    default: return NULL;
    }
}

/* Tokens that only start a top-level declaration: met where a statement is expected, the
 * block before them was not closed. */
static bool starts_declaration(int t) {
    return t == T_FN || t == T_ACTOR || t == T_SCHEDULE || t == T_COMPILED || t == T_IMPORT || t == T_LINK ||
           t == T_CONST || t == T_EXTERN || t == T_AT;
}

static bool inside_reported_unclosed(const DaftParser *p) {
    if (p->unclosed_line == 0 || p->depth_before_cur <= p->unclosed_index)
        return false;
    const DaftLoc *l = &p->brackets[p->unclosed_index].loc;
    return l->first_line == p->unclosed_line && l->first_column == p->unclosed_col;
}

static int line_indent(DaftParser *p, int line) {
    int len, n = 0;
    const char *text = daft_source_line(p->src, line, &len);
    while (text && n < len && (text[n] == ' ' || text[n] == '\t'))
        n++;
    return n;
}

/* A declaration keyword where a statement (or, in an actor, a member) was expected, on a
 * later line and indented no deeper than the line of the enclosing '{': that '{' was not
 * closed. (Deeper, or on the same line, it is a declaration nested on purpose.) */
static bool at_missing_brace(DaftParser *p, const DaftBracket *open, const bool *E, int cur) {
    if (!open || open->token != T_LBRACE || !starts_declaration(cur))
        return false;
    if (p->cur_loc.first_line <= open->loc.first_line ||
        p->cur_loc.first_column - 1 > line_indent(p, open->loc.first_line))
        return false;
    if (E[T_LET])
        return true;
    return E[T_FN] && E[T_AT] && !E[T_ACTOR] && cur != T_FN && cur != T_EXTERN && cur != T_AT;
}

/* 'a and b', 'x := 1': other languages' operators, met as the token the error is at. */
static void note_foreign_operator(DaftParser *p, DaftDiagEngine *d) {
    static const char *const map[][2] = {{"and", "&&"}, {"or", "||"}, {"not", "!"}};
    if (d->len == 0 || d->diags[d->len - 1].severity != DAFT_SEV_ERROR)
        return;
    DaftDiag *e = &d->diags[d->len - 1];
    /* the identifier the error is at, or the one just before it ('not x' fails at x) */
    int len;
    const char *line = daft_source_line(p->src, p->prev_loc.first_line, &len);
    for (int k = 0; k < 2; k++) {
        bool cur = k == 0;
        DaftLoc at = cur ? p->cur_loc : p->prev_loc;
        if ((cur ? p->cur_token : p->prev_token) != T_IDENT || (!cur && (!line || at.first_line != at.last_line)))
            continue;
        const char *word = cur ? p->src->text + p->cur_offset : line + at.first_column - 1;
        size_t wlen = cur ? p->cur_len : (size_t)(at.last_column - at.first_column);
        for (int i = 0; i < 3; i++)
            if (wlen == strlen(map[i][0]) && memcmp(word, map[i][0], wlen) == 0) {
                daft_note(d, e, SP(at), "daft writes '%s' as '%s'", map[i][0], map[i][1]);
                return;
            }
    }
    if (p->cur_token == T_COLON && p->src->text[p->cur_offset + 1] == '=')
        daft_note(d, e, SP(p->cur_loc), "declare a variable with 'let x = ...;'");
}

static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner, DaftParser *p) {
    (void)scanner;
    if (p->fatal)
        return 0;
    yysymbol_kind_t la = yypcontext_token(ctx);
    if (la == YYSYMBOL_YYerror || la == YYSYMBOL_YYUNDEF)
        return 0;
    yysymbol_kind_t exp[YYNTOKENS];
    int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
    if (n < 0)
        n = 0;
    bool E[YYNTOKENS + DAFT_TOKEN_FIRST] = {0};
    for (int i = 0; i < n; i++)
        E[sym_token(exp[i])] = true;
#define EXP(tok) E[tok]
    int cur = sym_token(la);
    bool eof = cur == 0;
    DaftSpan at_cur = SP(p->cur_loc);
    DaftSpan after_prev = {p->prev_loc.file, {p->prev_loc.last_line, p->prev_loc.last_column},
                           {p->prev_loc.last_line, p->prev_loc.last_column + 1}};
    if (p->prev_token == 0 && p->prev_loc.last_line == 0)
        after_prev = at_cur;
    DaftSpan where = eof ? after_prev : at_cur;
    char desc[96], a[32];
    describe_cur(p, desc, sizeof desc);
    DaftDiagEngine *d = p->diags;
    p->syntax_errors++;

    /* Likely cascades: stay quiet (an error has been reported already). */
    bool same_line_soon = p->last_error_line == p->cur_loc.first_line && p->tokens_since_error < 5;
    p->tokens_since_error = 0;
    if (p->cur_lex_error || p->prev_lex_error || (eof && p->eof_in_comment) || same_line_soon)
        return 0;

    const DaftBracket *open = p->depth_before_cur > 0 ? &p->brackets[p->depth_before_cur - 1] : NULL;
    bool closer_expected = false;
    if (open) {
        int closer = open->token == T_LPAREN ? T_RPAREN : open->token == T_LBRACKET ? T_RBRACKET : T_RBRACE;
        closer_expected = EXP(closer);
    }

    if (inside_reported_unclosed(p)) {
        p->last_error_line = p->cur_loc.first_line;
        return 0; /* follow-ons of the missing '}' */
    }

    if ((cur == T_FN || cur == T_EXTERN) && EXP(T_SCHEDULE) && EXP(T_COMPILED) && !EXP(T_ACTOR)) {
        daft_error(d, at_cur, "attributes apply to actor methods (@hint) and compiled schedules (@inflight), not to "
                              "functions");
    } else if (at_missing_brace(p, open, E, cur)) {
        DaftDiag *e = daft_error(d, at_cur, "expected '}' before %s", desc);
        daft_note(d, e, SP(open->loc), "to match this '{'");
        p->unclosed_index = p->depth_before_cur - 1;
        p->unclosed_line = open->loc.first_line;
        p->unclosed_col = open->loc.first_column;
    } else if ((cur == T_RPAREN || cur == T_RBRACKET || cur == T_RBRACE) && p->cur_unmatched) {
        daft_error(d, at_cur, "unexpected %s with no matching '%s'", desc,
                   cur == T_RPAREN ? "(" : cur == T_RBRACKET ? "[" : "{");
    } else if (is_cmp(cur) && EXP(T_ANDAND) && !EXP(cur)) {
        daft_error(d, at_cur, "comparison operators cannot be chained; combine comparisons with '&&'");
    } else if (cur == T_DOTDOT && EXP(T_PLUS) && !EXP(T_DOTDOT)) {
        daft_error(d, at_cur, "range operator '..' cannot be chained");
    } else if (EXP(T_SEMI) && EXP(T_INT) && !EXP(T_LET)) {
        const char *what = after_what(p->stmt_first);
        daft_error(d, where, "expected expression or ';'%s%s", what ? " after " : "", what ? what : "");
    } else if (EXP(T_SEMI)) {
        const char *what = EXP(T_PLUS) ? "expression"
                         : p->stmt_first == T_IDENT ? "field declaration" : after_what(p->stmt_first);
        daft_error(d, after_prev, "expected ';'%s%s", what ? " after " : "", what ? what : "");
    } else if (EXP(T_INT) && EXP(T_QUESTION) && !EXP(T_LPAREN)) {
        /* a dimension of tensor<T, [...]>: no expression is allowed there */
        daft_error(d, where, "expected a tensor dimension (an integer literal, an integer constant's name or '?'), found %s",
                   desc);
    } else if (EXP(T_INT) && EXP(T_LBRACKET) && EXP(T_IDENT) && !EXP(T_LPAREN) && !EXP(T_QUESTION)) {
        /* an attribute's argument: no expression is allowed there ('@inflight("4")') */
        daft_error(d, where, "expected an attribute argument (a type, an integer literal or 'name = value'), found %s",
                   desc);
    } else if (EXP(T_INT) && !EXP(T_LET)) {
        daft_error(d, where, "expected expression");
    } else if (EXP(T_LBRACE) && EXP(T_PLUS)) {
        DaftDiag *e = daft_error(d, where, "expected '{' after the condition or range, found %s", desc);
        if (cur == T_ASSIGN) /* 'if x = 2': a comparison was meant, there is no assignment there */
            daft_note(d, e, at_cur, "use '==' to compare");
    } else if (EXP(T_LET) && !eof) {
        daft_error(d, at_cur, "expected statement, found %s", desc);
    } else if (EXP(T_FN) && EXP(T_AT) && EXP(T_IDENT) && !EXP(T_ACTOR) && !eof) {
        daft_error(d, where, "expected a field or method declaration, found %s", desc);
    } else if (EXP(T_IDENT) && EXP(T_LBRACKET) && !EXP(T_INT)) {
        daft_error(d, where, "expected type, found %s", desc);
    } else if (open && closer_expected) {
        DaftDiag *e = daft_error(d, where, "expected '%s'", closer_spelling(open->token));
        daft_note(d, e, SP(open->loc), "to match this '%s'", daft_token_spelling(open->token));
    } else if (EXP(T_ACTOR)) {
        daft_error(d, where, "expected a declaration (import, link, const, actor, schedule or fn), found %s", desc);
    } else if (EXP(T_IDENT) && n <= 2) {
        daft_error(d, where, "expected identifier, found %s", desc);
    } else {
        /* list what was expected when that is short, leaving out the generic '<' */
        int list[8], k = 0;
        for (int i = 0; i < n && k <= 4; i++) {
            int t = sym_token(exp[i]);
            if (t == T_LT && n > 1)
                continue;
            list[k++] = t;
        }
        if (k >= 1 && k <= 4) {
            char msg[256];
            size_t m = (size_t)snprintf(msg, sizeof msg, "expected ");
            for (int i = 0; i < k; i++) {
                if (i > 0)
                    m += (size_t)snprintf(msg + m, sizeof msg - m, i == k - 1 ? " or " : ", ");
                m += (size_t)snprintf(msg + m, sizeof msg - m, "%s", quoted(a, sizeof a, list[i]));
            }
            daft_error(d, where, "%s, found %s", msg, desc);
        } else {
            daft_error(d, where, "unexpected %s", desc);
        }
    }
    note_foreign_operator(p, d);
#undef EXP
    if (d->len > 0)
        p->last_error_line = d->diags[d->len - 1].span.begin.line;
    return 0;
}
