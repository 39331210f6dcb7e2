/* Source files in memory, and the line index diagnostics use to show a source line. */
#include <daft/lang.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static DaftSource *source_add(DaftSourceSet *set, const char *path, char *text, size_t size) {
    if (set->len == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 4;
        set->files = realloc(set->files, sizeof(*set->files) * (size_t)set->cap);
    }
    DaftSource *src = calloc(1, sizeof(*src));
    src->id = set->len;
    src->path = strdup(path);
    src->text = text;
    src->size = size;
    set->files[set->len++] = src;
    return src;
}

DaftSource *daft_source_from_string(DaftSourceSet *set, const char *path, const char *text,
                                    size_t size) {
    char *copy = malloc(size + 1);
    memcpy(copy, text, size);
    copy[size] = '\0';
    return source_add(set, path, copy, size);
}

DaftSource *daft_source_load(DaftSourceSet *set, const char *path) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, size = 0;
    char *buf = malloc(cap);
    int read_errno = 0; /* fread's reason, e.g. EISDIR for a directory (fopen accepts one) */
    for (;;) {
        size_t n = fread(buf + size, 1, cap - size - 1, f);
        size += n;
        if (n == 0) {
            read_errno = errno;
            break;
        }
        if (cap - size - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    int failed = ferror(f);
    if (f != stdin)
        fclose(f);
    if (failed) {
        free(buf);
        errno = read_errno ? read_errno : EIO;
        return NULL;
    }
    buf[size] = '\0';
    return source_add(set, path, buf, size);
}

void daft_source_set_free(DaftSourceSet *set) {
    for (int i = 0; i < set->len; i++) {
        DaftSource *src = set->files[i];
        free((char *)src->path);
        free((char *)src->text);
        free(src->line_starts);
        free(src);
    }
    free(set->files);
    set->files = NULL;
    set->len = set->cap = 0;
}

static void index_lines(DaftSource *src) {
    int cap = 64;
    src->line_starts = malloc(sizeof(int) * (size_t)cap);
    src->line_starts[0] = 0;
    src->line_count = 1;
    for (size_t i = 0; i < src->size; i++) {
        if (src->text[i] != '\n')
            continue;
        if (src->line_count == cap) {
            cap *= 2;
            src->line_starts = realloc(src->line_starts, sizeof(int) * (size_t)cap);
        }
        src->line_starts[src->line_count++] = (int)(i + 1);
    }
}

const char *daft_source_line(DaftSource *src, int line, int *len) {
    if (!src->line_starts)
        index_lines(src);
    if (line < 1 || line > src->line_count) {
        *len = 0;
        return "";
    }
    int start = src->line_starts[line - 1];
    int end = line < src->line_count ? src->line_starts[line] - 1 : (int)src->size;
    if (end > start && src->text[end - 1] == '\r')
        end--;
    *len = end - start;
    return src->text + start;
}

DaftSpan daft_span_join(DaftSpan a, DaftSpan b) {
    if (a.file < 0)
        return b;
    if (b.file < 0 || b.file != a.file)
        return a;
    DaftSpan s = a;
    if (b.begin.line < s.begin.line || (b.begin.line == s.begin.line && b.begin.col < s.begin.col))
        s.begin = b.begin;
    if (b.end.line > s.end.line || (b.end.line == s.end.line && b.end.col > s.end.col))
        s.end = b.end;
    return s;
}
