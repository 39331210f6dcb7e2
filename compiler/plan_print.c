/* Plan output: text (stable, diffable; the default of --emit-plan), JSON and Graphviz DOT.
 * docs/spec-plan.md documents all three; keep it in step with this file. */
#include "plan_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *pay(const DaftPayload *p, char *buf, size_t cap) {
    daft_payload_str(p, buf, cap);
    return buf;
}

/* ---------------------------------------------------------------- text */

static const char *plural(int n) { return n == 1 ? "" : "s"; }

static void text_const(FILE *out, const DaftConst *k) {
    switch (k->kind) {
    case DAFT_CONST_I64: fprintf(out, "%" PRId64, k->i); break;
    case DAFT_CONST_F64: fprintf(out, "%g", k->f); break;
    case DAFT_CONST_BOOL: fputs(k->i ? "true" : "false", out); break;
    case DAFT_CONST_STR: fprintf(out, "\"%s\"", k->s ? k->s : ""); break;
    }
}

static void text_place(FILE *out, const DaftPlanActor *a) {
    if (a->place.gpu >= 0)
        fprintf(out, "node %d gpu %d", a->place.node, a->place.gpu);
    else
        fprintf(out, "node %d cpu", a->place.node);
}

static void text_channel(const DaftPlan *p, FILE *out, int c) {
    const DaftPlanChannel *ch = &p->channels[c];
    char buf[200];
    fprintf(out, "channel c%d: %s ->", c, plan_actor_label(p, ch->writer));
    for (int r = 0; r < ch->nreaders; r++)
        fprintf(out, "%s %s", r ? "," : "", plan_actor_label(p, ch->readers[r]));
    fprintf(out, "  %s", daft_transport_name(ch->transport));
    if (ch->custom)
        fprintf(out, "(%s)", ch->custom);
    fprintf(out, "  %s%s%s  capacity %d\n", pay(&ch->payload, buf, sizeof buf),
            ch->payload.device ? " on gpu" : "", ch->meta_first ? "  metadata first" : "", ch->capacity);
}

static void text_op(const DaftPlan *p, FILE *out, const DaftPlanOp *op) {
    switch (op->kind) {
    case DAFT_OP_READ:
        fprintf(out, "read c%d -> s%d", op->channel, op->dst);
        break;
    case DAFT_OP_WRITE:
        fprintf(out, "write s%d -> c%d", op->src, op->channel);
        if (op->reader >= 0)
            fprintf(out, " to %s", plan_actor_label(p, p->channels[op->channel].readers[op->reader]));
        break;
    case DAFT_OP_CALL:
        fprintf(out, "call %s(", op->method);
        for (int a = 0; a < op->nargs; a++) {
            fputs(a ? ", " : "", out);
            if (op->args[a].slot >= 0)
                fprintf(out, "s%d", op->args[a].slot);
            else
                text_const(out, &op->args[a].konst);
        }
        fputs(")", out);
        if (op->dst >= 0)
            fprintf(out, " -> s%d", op->dst);
        break;
    case DAFT_OP_COLLECTIVE:
        fprintf(out, "%s", daft_coll_name(op->coll));
        if (op->coll == DAFT_COLL_BROADCAST)
            fprintf(out, "(root %d)", op->root);
        else if (op->coll != DAFT_COLL_ALLGATHER && op->reduce != DAFT_REDUCE_SUM)
            fprintf(out, "(%s)", daft_reduce_name(op->reduce));
        fprintf(out, " g%d s%d -> s%d", op->group, op->src, op->dst);
        break;
    case DAFT_OP_FREE:
        fprintf(out, "free s%d", op->src);
        break;
    default:
        fputs("?", out);
    }
    if (op->seq >= 0)
        fprintf(out, "  [nccl #%" PRId64 "]", op->seq);
    fputc('\n', out);
}

static void text_io(const DaftPlan *p, FILE *out) {
    char buf[200];
    for (int i = 0; i < p->ninputs; i++) {
        const DaftPlanInput *in = &p->inputs[i];
        fprintf(out, "input %s: %s ->", in->name, pay(&in->payload, buf, sizeof buf));
        for (int j = 0; j < in->nchannels; j++)
            fprintf(out, "%s c%d", j ? "," : "", in->channels[j]);
        fputs(in->nchannels ? "\n" : " (unused)\n", out);
    }
    for (int i = 0; i < p->noutputs; i++) {
        const DaftPlanOutput *o = &p->outputs[i];
        if (o->channel >= 0)
            fprintf(out, "output %s <- c%d\n", o->name, o->channel);
        else
            fprintf(out, "output %s <- input %s\n", o->name, p->inputs[o->input].name);
    }
}

static void print_text(const DaftPlan *p, FILE *out) {
    fprintf(out, "plan %s: %d actor%s, %d channel%s, %d group%s, inflight %d\n", p->name,
            p->nactors, plural(p->nactors), p->nchannels, plural(p->nchannels), p->ngroups,
            plural(p->ngroups), p->inflight);
    for (int a = 0; a < p->nactors; a++) {
        const DaftPlanActor *pa = &p->actors[a];
        fprintf(out, "actor %s: %s, ", pa->name, pa->cls);
        text_place(out, pa);
        fprintf(out, pa->origin ? ", spawned as %s\n" : "\n", pa->origin);
    }
    for (int g = 0; g < p->ngroups; g++) {
        fprintf(out, "group g%d: %s [", g, daft_transport_name(p->groups[g].transport));
        for (int m = 0; m < p->groups[g].nmembers; m++)
            fprintf(out, "%s%s", m ? ", " : "", p->actors[p->groups[g].members[m]].name);
        fputs("]\n", out);
    }
    for (int c = 0; c < p->nchannels; c++)
        text_channel(p, out, c);
    text_io(p, out);
    for (int a = 0; a < p->nactors; a++) {
        const DaftPlanActor *pa = &p->actors[a];
        fprintf(out, "program %s (%d slot%s):\n", pa->name, pa->nslots, plural(pa->nslots));
        for (int i = 0; i < pa->nops; i++) {
            fprintf(out, "  %3d  ", i);
            text_op(p, out, &pa->ops[i]);
        }
    }
}

/* ---------------------------------------------------------------- JSON */

static void json_str(FILE *out, const char *s) {
    fputc('"', out);
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(out, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(out, "\\u%04x", ch);
        else
            fputc(ch, out);
    }
    fputc('"', out);
}

static void json_payload(FILE *out, const DaftPayload *p) {
    fputs("{\"kind\": ", out);
    json_str(out, daft_payload_kind_name(p->kind));
    if (p->kind == DAFT_PAY_TENSOR) {
        char buf[200];
        pay(p, buf, sizeof buf);
        *strchr(buf, p->rank >= 0 ? ',' : '>') = '\0';     /* "tensor<f32" */
        fprintf(out, ", \"dtype\": \"%s\", \"shape\": ", buf + 7);
        if (p->rank < 0) {
            fputs("null", out);
        } else {
            fputc('[', out);
            for (int i = 0; i < p->rank; i++) {
                fputs(i ? ", " : "", out);
                if (p->dims[i] == DAFT_DIM_DYNAMIC)
                    fputs("null", out);
                else
                    fprintf(out, "%" PRId64, p->dims[i]);
            }
            fputc(']', out);
        }
        fprintf(out, ", \"device\": %s", p->device ? "true" : "false");
    }
    fputc('}', out);
}

static void json_const(FILE *out, const DaftConst *k) {
    switch (k->kind) {
    case DAFT_CONST_I64: fprintf(out, "{\"i64\": %" PRId64 "}", k->i); break;
    case DAFT_CONST_F64: fprintf(out, "{\"f64\": %.17g}", k->f); break;
    case DAFT_CONST_BOOL: fprintf(out, "{\"bool\": %s}", k->i ? "true" : "false"); break;
    case DAFT_CONST_STR: fputs("{\"str\": ", out), json_str(out, k->s), fputc('}', out); break;
    }
}

static void json_op(FILE *out, const DaftPlanOp *op) {
    fprintf(out, "{\"op\": \"%s\"", daft_plan_op_name(op->kind));
    if (op->kind == DAFT_OP_READ || op->kind == DAFT_OP_WRITE)
        fprintf(out, ", \"channel\": %d", op->channel);
    if (op->kind == DAFT_OP_WRITE)
        fprintf(out, ", \"reader\": %d", op->reader);
    if (op->kind == DAFT_OP_CALL) {
        fputs(", \"method\": ", out);
        json_str(out, op->method);
        fputs(", \"args\": [", out);
        for (int a = 0; a < op->nargs; a++) {
            fputs(a ? ", " : "", out);
            if (op->args[a].slot >= 0)
                fprintf(out, "{\"slot\": %d}", op->args[a].slot);
            else
                json_const(out, &op->args[a].konst);
        }
        fputc(']', out);
    }
    if (op->kind == DAFT_OP_COLLECTIVE)
        fprintf(out, ", \"collective\": \"%s\", \"reduce\": \"%s\", \"root\": %d, \"group\": %d",
                daft_coll_name(op->coll), daft_reduce_name(op->reduce), op->root, op->group);
    if (op->kind != DAFT_OP_READ && op->kind != DAFT_OP_CALL)
        fprintf(out, ", \"src\": %d", op->src);
    if (op->kind == DAFT_OP_READ || op->kind == DAFT_OP_CALL || op->kind == DAFT_OP_COLLECTIVE)
        fprintf(out, ", \"dst\": %d", op->dst);
    if (op->seq >= 0)
        fprintf(out, ", \"seq\": %" PRId64, op->seq);
    fprintf(out, ", \"node\": %d}", op->node);
}

static void json_actor(FILE *out, const DaftPlanActor *a, const char *ind) {
    fprintf(out, "%s{\"name\": ", ind);
    json_str(out, a->name);
    fputs(", \"class\": ", out);
    json_str(out, a->cls);
    fprintf(out, ", \"gpus\": %d, \"node\": %d, \"gpu\": %d, \"origin\": ", a->gpus, a->place.node,
            a->place.gpu);
    if (a->origin)
        json_str(out, a->origin);
    else
        fputs("null", out);
    fprintf(out, ", \"slots\": %d,\n%s \"ops\": [", a->nslots, ind);
    for (int i = 0; i < a->nops; i++) {
        fprintf(out, "%s\n%s   ", i ? "," : "", ind);
        json_op(out, &a->ops[i]);
    }
    fprintf(out, "]}");
}

static void json_channel(FILE *out, const DaftPlanChannel *ch) {
    fprintf(out, "{\"value\": %d, \"writer\": %d, \"readers\": [", ch->value, ch->writer);
    for (int r = 0; r < ch->nreaders; r++)
        fprintf(out, "%s%d", r ? ", " : "", ch->readers[r]);
    fprintf(out, "], \"transport\": \"%s\", \"custom\": ", daft_transport_name(ch->transport));
    if (ch->custom)
        json_str(out, ch->custom);
    else
        fputs("null", out);
    fputs(", \"payload\": ", out);
    json_payload(out, &ch->payload);
    fprintf(out, ", \"meta_first\": %s, \"capacity\": %d}", ch->meta_first ? "true" : "false", ch->capacity);
}

static void json_io(const DaftPlan *p, FILE *out, const char *ind) {
    fprintf(out, ",\n%s\"inputs\": [", ind);
    for (int i = 0; i < p->ninputs; i++) {
        fprintf(out, "%s{\"name\": ", i ? ", " : "");
        json_str(out, p->inputs[i].name);
        fputs(", \"payload\": ", out);
        json_payload(out, &p->inputs[i].payload);
        fputs(", \"channels\": [", out);
        for (int j = 0; j < p->inputs[i].nchannels; j++)
            fprintf(out, "%s%d", j ? ", " : "", p->inputs[i].channels[j]);
        fputs("]}", out);
    }
    fprintf(out, "],\n%s\"outputs\": [", ind);
    for (int i = 0; i < p->noutputs; i++) {
        fprintf(out, "%s{\"name\": ", i ? ", " : "");
        json_str(out, p->outputs[i].name);
        fprintf(out, ", \"channel\": %d, \"input\": %d}", p->outputs[i].channel, p->outputs[i].input);
    }
    fputc(']', out);
}

static void print_json(const DaftPlan *p, FILE *out, const char *ind) {
    fprintf(out, "{\"schedule\": ");
    json_str(out, p->name);
    fprintf(out, ", \"inflight\": %d, \"gpus_per_node\": %d,\n%s \"actors\": [\n", p->inflight,
            p->gpus_per_node, ind);
    char ind2[32];
    snprintf(ind2, sizeof ind2, "%s  ", ind);
    for (int a = 0; a < p->nactors; a++) {
        json_actor(out, &p->actors[a], ind2);
        fputs(a + 1 < p->nactors ? ",\n" : "", out);
    }
    fprintf(out, "],\n%s \"groups\": [", ind);
    for (int g = 0; g < p->ngroups; g++) {
        fprintf(out, "%s{\"transport\": \"%s\", \"members\": [", g ? ", " : "",
                daft_transport_name(p->groups[g].transport));
        for (int m = 0; m < p->groups[g].nmembers; m++)
            fprintf(out, "%s%d", m ? ", " : "", p->groups[g].members[m]);
        fputs("]}", out);
    }
    fprintf(out, "],\n%s \"channels\": [", ind);
    for (int c = 0; c < p->nchannels; c++) {
        fprintf(out, "%s\n%s  ", c ? "," : "", ind);
        json_channel(out, &p->channels[c]);
    }
    fputc(']', out);
    json_io(p, out, ind2);
    fputc('}', out);
}

/* ---------------------------------------------------------------- DOT */

/* DOT draws the dataflow graph the plan executes, recovered from the programs: one box per
 * CALL and collective inside its actor's cluster, white inputs, gray outputs, and one edge
 * per argument labelled with the transport that brings it and its shape. A slot's origin
 * is the op that made it; a value read from a channel takes the origin of the slot its
 * writer sent. */
typedef struct DotState {
    const DaftPlan *p;
    FILE *out;
    const char *prefix;      /* node name prefix: unique per plan in one document */
    char **chan_origin;      /* per channel: DOT node of the value it carries */
    char ***slot_origin;     /* per actor, per slot */
} DotState;

static char *dot_node_name(const DotState *D, int actor, int op) {
    char *s = plan_xmalloc(64);
    snprintf(s, 64, "%sa%d_%d", D->prefix, actor, op);
    return s;
}

static void dot_set(char **dst, const char *src) {
    free(*dst);
    *dst = src ? strcpy(plan_xmalloc(strlen(src) + 1), src) : NULL;
}

/* Pass 1: which DOT node each channel carries (writers may come after readers in actor
 * order, so all writes are resolved before any edge is drawn). */
static void dot_origins(DotState *D) {
    const DaftPlan *p = D->p;
    for (int i = 0; i < p->ninputs; i++) {
        char name[64];
        snprintf(name, sizeof name, "%sin%d", D->prefix, i);
        for (int j = 0; j < p->inputs[i].nchannels; j++)
            dot_set(&D->chan_origin[p->inputs[i].channels[j]], name);
    }
    for (int a = 0; a < p->nactors; a++) {
        const DaftPlanActor *pa = &p->actors[a];
        char **slots = D->slot_origin[a];
        for (int i = 0; i < pa->nops; i++) {
            const DaftPlanOp *op = &pa->ops[i];
            if (op->kind == DAFT_OP_CALL || op->kind == DAFT_OP_COLLECTIVE) {
                if (op->dst >= 0) {
                    free(slots[op->dst]);
                    slots[op->dst] = dot_node_name(D, a, i);
                }
            } else if (op->kind == DAFT_OP_WRITE) {
                dot_set(&D->chan_origin[op->channel], slots[op->src]);
            }
        }
    }
}

static void dot_edge(DotState *D, const char *from, const char *to, const char *transport,
                     const DaftPayload *payload) {
    char buf[200];
    if (!from)
        return;
    fprintf(D->out, "    %s -> %s [label=\"%s\\n%s\"%s];\n", from, to, transport,
            payload ? pay(payload, buf, sizeof buf) : "",
            strcmp(transport, "nccl") == 0 ? ", color=\"#2a6fdb\", penwidth=2" : "");
}

/* An argument slot is either made here (local edge) or read from a channel. */
static void dot_actor_edges(DotState *D, int a, char **chan_of_slot) {
    const DaftPlan *p = D->p;
    const DaftPlanActor *pa = &p->actors[a];
    char **local = plan_xcalloc((size_t)(pa->nslots + 1), sizeof(char *));
    for (int i = 0; i < pa->nops; i++) {
        const DaftPlanOp *op = &pa->ops[i];
        int nsrc = op->kind == DAFT_OP_CALL ? op->nargs : op->kind == DAFT_OP_COLLECTIVE;
        char *me = dot_node_name(D, a, i);
        for (int k = 0; k < nsrc; k++) {
            int s = op->kind == DAFT_OP_CALL ? op->args[k].slot : op->src;
            if (s < 0)
                continue;
            if (chan_of_slot[s]) {
                int c = atoi(chan_of_slot[s]);
                dot_edge(D, D->chan_origin[c], me, daft_transport_name(p->channels[c].transport),
                         &p->channels[c].payload);
            } else {
                dot_edge(D, local[s], me, "local", NULL);
            }
        }
        if (op->kind == DAFT_OP_READ) {
            char num[16];
            snprintf(num, sizeof num, "%d", op->channel);
            dot_set(&chan_of_slot[op->dst], num);
        } else if ((op->kind == DAFT_OP_CALL || op->kind == DAFT_OP_COLLECTIVE) && op->dst >= 0) {
            dot_set(&chan_of_slot[op->dst], NULL);
            dot_set(&local[op->dst], me);
        }
        free(me);
    }
    for (int s = 0; s < pa->nslots; s++)
        free(local[s]);
    free(local);
}

static void dot_cluster(DotState *D, int a) {
    const DaftPlanActor *pa = &D->p->actors[a];
    fprintf(D->out, "    subgraph cluster_%sactor%d {\n      label=\"%s (%s) ", D->prefix, a, pa->name, pa->cls);
    if (pa->place.gpu >= 0)
        fprintf(D->out, "node %d gpu %d\";\n", pa->place.node, pa->place.gpu);
    else
        fprintf(D->out, "node %d cpu\";\n", pa->place.node);
    fputs("      style=rounded; color=\"#888888\";\n", D->out);
    for (int i = 0; i < pa->nops; i++) {
        const DaftPlanOp *op = &pa->ops[i];
        if (op->kind == DAFT_OP_CALL)
            fprintf(D->out, "      %sa%d_%d [label=\"%s\", shape=box, style=filled, fillcolor=\"#cfe2ff\"];\n",
                    D->prefix, a, i, op->method);
        else if (op->kind == DAFT_OP_COLLECTIVE)
            fprintf(D->out, "      %sa%d_%d [label=\"%s g%d\", shape=box, style=filled, fillcolor=\"#ffe08a\"];\n",
                    D->prefix, a, i, daft_coll_name(op->coll), op->group);
    }
    fputs("    }\n", D->out);
}

static void dot_io(DotState *D) {
    const DaftPlan *p = D->p;
    char buf[200];
    for (int i = 0; i < p->ninputs; i++)
        fprintf(D->out, "    %sin%d [label=\"%s\\n%s\", shape=ellipse, style=filled, fillcolor=white];\n",
                D->prefix, i, p->inputs[i].name, pay(&p->inputs[i].payload, buf, sizeof buf));
    for (int i = 0; i < p->noutputs; i++) {
        const DaftPlanOutput *o = &p->outputs[i];
        char name[64];
        snprintf(name, sizeof name, "%sout%d", D->prefix, i);
        fprintf(D->out, "    %s [label=\"%s\", shape=ellipse, style=filled, fillcolor=\"#bbbbbb\"];\n",
                name, o->name);
        if (o->channel >= 0)
            dot_edge(D, D->chan_origin[o->channel], name, daft_transport_name(p->channels[o->channel].transport),
                     &p->channels[o->channel].payload);
        else {
            char from[64];
            snprintf(from, sizeof from, "%sin%d", D->prefix, o->input);
            dot_edge(D, from, name, "local", NULL);
        }
    }
}

static void print_dot_body(const DaftPlan *p, FILE *out, const char *prefix) {
    DotState D = {p, out, prefix, NULL, NULL};
    D.chan_origin = plan_xcalloc((size_t)(p->nchannels + 1), sizeof(char *));
    D.slot_origin = plan_xcalloc((size_t)(p->nactors + 1), sizeof(char **));
    for (int a = 0; a < p->nactors; a++)
        D.slot_origin[a] = plan_xcalloc((size_t)(p->actors[a].nslots + 1), sizeof(char *));
    dot_origins(&D);
    for (int a = 0; a < p->nactors; a++)
        dot_cluster(&D, a);
    dot_io(&D);
    for (int a = 0; a < p->nactors; a++) {
        char **chan_of_slot = plan_xcalloc((size_t)(p->actors[a].nslots + 1), sizeof(char *));
        dot_actor_edges(&D, a, chan_of_slot);
        for (int s = 0; s < p->actors[a].nslots; s++)
            free(chan_of_slot[s]), free(D.slot_origin[a][s]);
        free(chan_of_slot);
        free(D.slot_origin[a]);
    }
    for (int c = 0; c < p->nchannels; c++)
        free(D.chan_origin[c]);
    free(D.chan_origin);
    free(D.slot_origin);
}

static void dot_header(FILE *out) {
    fputs("digraph plan {\n  rankdir=LR;\n  node [fontname=\"Helvetica\"];\n"
          "  edge [fontname=\"Helvetica\", fontsize=10];\n", out);
}

static void print_dot_plan(const DaftPlan *p, FILE *out, int index) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "p%d_", index);
    fprintf(out, "  subgraph cluster_plan%d {\n    label=\"plan %s (inflight %d)\";\n", index, p->name,
            p->inflight);
    print_dot_body(p, out, prefix);
    fputs("  }\n", out);
}

/* ---------------------------------------------------------------- entry points */

void daft_plan_print(const DaftPlan *plan, FILE *out, DaftPlanFormat fmt) {
    DaftPlan *one[1] = {(DaftPlan *)plan};
    daft_plan_print_all(one, 1, NULL, 0, out, fmt);
}

static void print_skips_text(const DaftPlanSkip *skips, int n, FILE *out) {
    for (int i = 0; i < n; i++)
        fprintf(out, "note: no plan for compiled schedule %s: %s\n", skips[i].schedule, skips[i].reason);
}

static void print_json_all(DaftPlan *const *plans, int n, const DaftPlanSkip *skips, int nskips,
                           FILE *out) {
    fputs("{\"plans\": [", out);
    for (int i = 0; i < n; i++) {
        fputs(i ? ",\n  " : "\n  ", out);
        print_json(plans[i], out, "  ");
    }
    fputs("],\n \"skipped\": [", out);
    for (int i = 0; i < nskips; i++) {
        fputs(i ? ", " : "", out);
        fputs("{\"schedule\": ", out);
        json_str(out, skips[i].schedule);
        fputs(", \"reason\": ", out);
        json_str(out, skips[i].reason);
        fputc('}', out);
    }
    fputs("]}\n", out);
}

void daft_plan_print_all(DaftPlan *const *plans, int n, const DaftPlanSkip *skips, int nskips,
                         FILE *out, DaftPlanFormat fmt) {
    switch (fmt) {
    case DAFT_PLAN_JSON:
        print_json_all(plans, n, skips, nskips, out);
        break;
    case DAFT_PLAN_DOT:
        dot_header(out);
        for (int i = 0; i < nskips; i++)
            fprintf(out, "  // no plan for %s: %s\n", skips[i].schedule, skips[i].reason);
        for (int i = 0; i < n; i++)
            print_dot_plan(plans[i], out, i);
        fputs("}\n", out);
        break;
    default:
        for (int i = 0; i < n; i++) {
            fputs(i ? "\n" : "", out);
            print_text(plans[i], out);
        }
        if (n && nskips)
            fputc('\n', out);
        print_skips_text(skips, nskips, out);
    }
}
