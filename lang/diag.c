/* Diagnostics in the style of clang: "file:line:col: error: message", the source line,
 * a caret under the start and tildes under the rest of the range, then attached notes.
 * Nothing here exits: the REPL keeps going after an error. */
#include <daft/lang.h>

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_MAX_ERRORS = 100, SHOWN_LINE_MAX = 160 };

const char *daft_severity_name(DaftSeverity sev) {
    static const char *names[] = {
#define X(id, text) text,
        DAFT_SEVERITIES(X)
#undef X
    };
    return names[sev];
}

void daft_diag_init(DaftDiagEngine *eng, DaftSourceSet *sources) {
    memset(eng, 0, sizeof(*eng));
    eng->sources = sources;
}

static void diag_free_one(DaftDiag *d) {
    free(d->message);
    for (int i = 0; i < d->note_count; i++)
        diag_free_one(&d->notes[i]);
    free(d->notes);
}

void daft_diag_clear(DaftDiagEngine *eng) {
    for (int i = 0; i < eng->len; i++)
        diag_free_one(&eng->diags[i]);
    eng->len = 0;
    eng->error_count = eng->warning_count = 0;
}

void daft_diag_free(DaftDiagEngine *eng) {
    daft_diag_clear(eng);
    free(eng->diags);
    eng->diags = NULL;
    eng->cap = 0;
}

static char *vformat(const char *fmt, va_list ap) {
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    char *s = malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static int max_errors(const DaftDiagEngine *eng) {
    return eng->max_errors > 0 ? eng->max_errors : DEFAULT_MAX_ERRORS;
}

/* Past the error limit further diagnostics are dropped; notes to a dropped diagnostic go
 * to this sink, which daft_note recognises and never writes. */
static DaftDiag dropped_sink;

static DaftDiag *diag_append(DaftDiagEngine *eng, DaftSeverity sev, DaftSpan span, char *msg) {
    if (eng->len == eng->cap) {
        eng->cap = eng->cap ? eng->cap * 2 : 16;
        eng->diags = realloc(eng->diags, sizeof(DaftDiag) * (size_t)eng->cap);
    }
    DaftDiag *d = &eng->diags[eng->len++];
    memset(d, 0, sizeof(*d));
    d->severity = sev;
    d->span = span;
    d->message = msg;
    return d;
}

/* The returned pointer stays valid until the next diagnostic is recorded: attach notes
 * right away. */
static DaftDiag *diag_push(DaftDiagEngine *eng, DaftSeverity sev, DaftSpan span, char *msg) {
    if (eng->error_count >= max_errors(eng)) {
        free(msg);
        return &dropped_sink;
    }
    DaftDiag *d = diag_append(eng, sev, span, msg);
    if (sev == DAFT_SEV_WARNING)
        eng->warning_count++;
    if (sev == DAFT_SEV_ERROR && ++eng->error_count == max_errors(eng)) {
        diag_append(eng, DAFT_SEV_ERROR, daft_span_none(),
                    strdup("too many errors emitted, stopping now"));
        return &dropped_sink; /* its notes would land after the stop message */
    }
    return d;
}

DaftDiag *daft_error(DaftDiagEngine *eng, DaftSpan span, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return diag_push(eng, DAFT_SEV_ERROR, span, msg);
}

DaftDiag *daft_warning(DaftDiagEngine *eng, DaftSpan span, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    return diag_push(eng, DAFT_SEV_WARNING, span, msg);
}

void daft_note(DaftDiagEngine *eng, DaftDiag *parent, DaftSpan span, const char *fmt, ...) {
    (void)eng;
    if (parent == &dropped_sink)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = vformat(fmt, ap);
    va_end(ap);
    parent->notes = realloc(parent->notes, sizeof(DaftDiag) * (size_t)(parent->note_count + 1));
    DaftDiag *n = &parent->notes[parent->note_count++];
    memset(n, 0, sizeof(*n));
    n->severity = DAFT_SEV_NOTE;
    n->span = span;
    n->message = msg;
}

void daft_diag_add_range(DaftDiag *d, DaftSpan range) {
    if (d == &dropped_sink || d->range_count >= DAFT_DIAG_MAX_RANGES || range.file < 0 || range.begin.line <= 0)
        return;
    d->ranges[d->range_count++] = range;
}

/* ---------------------------------------------------------------- text output */

static DaftSource *span_source(DaftDiagEngine *eng, DaftSpan span) {
    if (!eng->sources || span.file < 0 || span.file >= eng->sources->len)
        return NULL;
    return eng->sources->files[span.file];
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if invalid. */
static int utf8_len(const unsigned char *s, int n) {
    int len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (int i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* Prints bytes [from, to) of a line so that the terminal shows one cell per character:
 * control bytes and invalid UTF-8 become '?', so carets stay aligned and golden files
 * stay text. */
static void print_line_part(FILE *out, const char *line, int from, int to) {
    const unsigned char *s = (const unsigned char *)line;
    for (int i = from; i < to;) {
        int n = utf8_len(s + i, to - i);
        if (n == 3 && s[i] == 0xEF && s[i + 1] == 0xBB && s[i + 2] == 0xBF) {
            i += 3; /* a byte order mark has no width: not shown, no marker cell */
        } else if (n == 0 || (n == 1 && (s[i] < 0x20 || s[i] == 0x7f) && s[i] != '\t')) {
            fputc('?', out);
            i++;
        } else {
            fwrite(s + i, 1, (size_t)n, out);
            i += n;
        }
    }
}

/* The code point of the valid n-byte UTF-8 sequence at s. */
static unsigned utf8_cp(const unsigned char *s, int n) {
    unsigned cp = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

typedef struct { unsigned lo, hi; } CpRange;

static bool cp_in(unsigned cp, const CpRange *table, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (cp >= table[i].lo && cp <= table[i].hi)
            return true;
    return false;
}

/* Characters that draw on the previous cell or not at all: combining marks (e + U+0301 is one
 * 'é'), zero-width spaces and joiners, bidi controls, variation selectors, tags. */
static bool cp_zero_width(unsigned cp) {
    static const CpRange zero[] = {
        {0x0300, 0x036F},   /* combining diacritical marks */
        {0x0483, 0x0489},   /* Cyrillic combining marks */
        {0x0591, 0x05BD},   /* Hebrew points */
        {0x05BF, 0x05BF},   {0x05C1, 0x05C2}, {0x05C4, 0x05C5}, {0x05C7, 0x05C7},
        {0x0610, 0x061A},   /* Arabic marks */
        {0x064B, 0x065F},   {0x0670, 0x0670}, {0x06D6, 0x06DC}, {0x06DF, 0x06E4},
        {0x06E7, 0x06E8},   {0x06EA, 0x06ED},
        {0x0900, 0x0902},   /* Devanagari signs */
        {0x093A, 0x093A},   {0x093C, 0x093C}, {0x0941, 0x0948}, {0x094D, 0x094D},
        {0x0951, 0x0957},   {0x0962, 0x0963},
        {0x0E31, 0x0E31},   /* Thai vowels and tone marks */
        {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E},
        {0x1160, 0x11FF},   /* Hangul Jamo vowels and finals: they join the leading consonant */
        {0x1AB0, 0x1AFF},   /* combining diacritical marks extended */
        {0x1DC0, 0x1DFF},   /* combining diacritical marks supplement */
        {0x200B, 0x200F},   /* zero-width space, non-joiner, joiner, direction marks */
        {0x202A, 0x202E},   /* bidi embeddings and overrides */
        {0x2060, 0x2064},   /* word joiner, invisible operators */
        {0x20D0, 0x20FF},   /* combining marks for symbols */
        {0xFE00, 0xFE0F},   /* variation selectors (text or emoji presentation) */
        {0xFE20, 0xFE2F},   /* combining half marks */
        {0xE0000, 0xE007F}, /* tags (flag sequences) */
        {0xE0100, 0xE01EF}, /* variation selectors supplement */
    };
    return cp_in(cp, zero, sizeof(zero) / sizeof(zero[0]));
}

/* Terminal cells of a code point: 0 for the zero-width ones above; 2 for the main East Asian
 * wide and fullwidth ranges and the common emoji blocks; else 1. A table of our own rather than
 * wcwidth(), whose answer depends on the locale (in the C locale every non-ASCII character is
 * -1), so that golden files and carets agree everywhere. */
static int cp_width(unsigned cp) {
    static const CpRange wide[] = {
        {0x1100, 0x115F},   /* Hangul Jamo leading consonants */
        {0x2329, 0x232A},   /* angle brackets */
        {0x2E80, 0x303E},   /* CJK radicals, Kangxi, CJK symbols and punctuation */
        {0x3041, 0x33FF},   /* kana, Bopomofo, Hangul compatibility Jamo, CJK compatibility */
        {0x3400, 0x4DBF},   /* CJK extension A */
        {0x4E00, 0x9FFF},   /* CJK unified ideographs */
        {0xA000, 0xA4CF},   /* Yi */
        {0xA960, 0xA97F},   /* Hangul Jamo extended A */
        {0xAC00, 0xD7A3},   /* Hangul syllables */
        {0xF900, 0xFAFF},   /* CJK compatibility ideographs */
        {0xFE10, 0xFE19},   /* vertical forms */
        {0xFE30, 0xFE6F},   /* CJK compatibility and small forms */
        {0xFF00, 0xFF60},   /* fullwidth forms */
        {0xFFE0, 0xFFE6},   /* fullwidth signs */
        {0x1F300, 0x1F64F}, /* pictographs, emoticons */
        {0x1F680, 0x1F6FF}, /* transport and map symbols */
        {0x1F900, 0x1F9FF}, /* supplemental pictographs */
        {0x1FA70, 0x1FAFF}, /* pictographs extended A */
        {0x20000, 0x3FFFD}, /* CJK extensions B and later */
    };
    if (cp_zero_width(cp))
        return 0;
    return cp_in(cp, wide, sizeof(wide) / sizeof(wide[0])) ? 2 : 1;
}

/* Terminal cells of the character at byte i of a line as a snippet shows it, and its length in
 * *bytes: invalid UTF-8 and control bytes are one '?', a byte order mark is not shown. */
static int char_cells(const unsigned char *s, int i, int len, int *bytes) {
    int n = utf8_len(s + i, len - i);
    *bytes = n > 0 ? n : 1;
    if (n == 3 && s[i] == 0xEF && s[i + 1] == 0xBB && s[i + 2] == 0xBF)
        return 0;
    return n >= 2 ? cp_width(utf8_cp(s + i, n)) : 1;
}

/* The marker line for bytes [from, to) of a line: each character's cells get the mark of its
 * first byte (a wide character's second cell the mark of its second byte, '~' where a range
 * covers it), blanks as the line's own tabs so that tab stops agree, and nothing after the
 * last mark. A zero-width character takes no cell; a caret on one goes to the next cell, where
 * the terminal draws what follows it, as clang puts it. marks[] has a cell past the end, for a
 * caret at the end. */
static void print_marks(FILE *out, const char *line, int len, const char *marks, int from, int to) {
    const unsigned char *s = (const unsigned char *)line;
    char *buf = malloc(2 * (size_t)(to - from) + 2);
    int k = 0;
    bool caret_pending = false;
    for (int i = from; i <= to;) {
        int n = 1;
        int width = i < len ? char_cells(s, i, len, &n) : 1;
        if (width == 0) {
            caret_pending |= marks[i] == '^';
            i += n;
            continue;
        }
        buf[k++] = caret_pending ? '^' : marks[i] == ' ' && i < len && s[i] == '\t' ? '\t' : marks[i];
        caret_pending = false;
        if (width == 2)
            buf[k++] = marks[i + 1] == ' ' ? ' ' : '~';
        i += n;
    }
    while (k > 0 && (buf[k - 1] == ' ' || buf[k - 1] == '\t'))
        k--;
    fwrite(buf, 1, (size_t)k, out);
    free(buf);
}

/* Marks '~' over the part of `r` that lies on `line` (bytes [0, len) of `text`); a range from an
 * earlier line starts at the line's first non-blank, as in clang. */
static void mark_range(char *marks, const char *text, int len, int line, DaftSpan r) {
    if (r.begin.line > line || r.end.line < line)
        return;
    int b = r.begin.col - 1;
    if (r.begin.line < line)
        for (b = 0; b < len && (text[b] == ' ' || text[b] == '\t');)
            b++;
    int e = r.end.line == line ? r.end.col - 1 : len;
    for (int i = b < 0 ? 0 : b; i < e && i < len; i++)
        if (marks[i] == ' ')
            marks[i] = '~';
}

/* Cells of bytes [from, to) of a line. */
static int line_cells(const unsigned char *s, int len, int from, int to) {
    int cells = 0;
    for (int i = from, n; i < to; i += n)
        cells += char_cells(s, i, len, &n);
    return cells;
}

/* The window [*from, *to) of a line wider than SHOWN_LINE_MAX cells (a terminal's worth, so
 * measured in cells, not bytes: a CJK character is three bytes and two cells): at most half of it
 * before the column, SHOWN_LINE_MAX cells in all, cut between characters and not between a
 * character and its combining marks, which would then draw on the '...'. */
static void snippet_window(const char *line, int len, int col, int *from, int *to) {
    const unsigned char *s = (const unsigned char *)line;
    *from = 0;
    *to = len;
    if (line_cells(s, len, 0, len) <= SHOWN_LINE_MAX)
        return;
    int n, before = line_cells(s, len, 0, col);
    for (; before > SHOWN_LINE_MAX / 2 && *from < col; *from += n)
        before -= char_cells(s, *from, len, &n);
    while (*from < col && char_cells(s, *from, len, &n) == 0)
        *from += n;
    if (*from > col)
        *from = col; /* a column inside a character: keep the caret shown */
    int cells = 0;
    for (*to = *from; *to < len; *to += n) {
        int w = char_cells(s, *to, len, &n);
        if (cells + w > SHOWN_LINE_MAX)
            break;
        cells += w;
    }
}

static void print_snippet(FILE *out, DaftSource *src, const DaftDiag *d) {
    DaftSpan span = d->span;
    int len;
    const char *line = daft_source_line(src, span.begin.line, &len);
    int col = span.begin.col - 1;
    if (col < 0)
        col = 0;
    if (col > len)
        col = len;
    int from, to;
    snippet_window(line, len, col, &from, &to);
    char *marks = malloc((size_t)len + 1);
    memset(marks, ' ', (size_t)len + 1);
    mark_range(marks, line, to, span.begin.line, span);
    for (int i = 0; i < d->range_count; i++)
        if (d->ranges[i].file == span.file)
            mark_range(marks, line, to, span.begin.line, d->ranges[i]);
    /* the caret takes the character at the column, whose other bytes keep their marks: a wide
     * character in the range shows '^~', as in clang */
    marks[col] = '^';
    for (int i = 0; i < len; i++)
        if (i < from || i >= to)
            marks[i] = ' ';
    fputs(from > 0 ? "..." : "", out);
    print_line_part(out, line, from, to);
    fputs(to < len ? "...\n" : "\n", out);
    fputs(from > 0 ? "   " : "", out);
    print_marks(out, line, len, marks, from, to);
    fputc('\n', out);
    free(marks);
}

static void print_text_one(DaftDiagEngine *eng, FILE *out, const DaftDiag *d) {
    DaftSource *src = span_source(eng, d->span);
    if (src)
        fprintf(out, "%s:%d:%d: ", src->path, d->span.begin.line, d->span.begin.col);
    else
        fputs("daftc: ", out);
    fprintf(out, "%s: %s\n", daft_severity_name(d->severity), d->message);
    if (src && d->span.begin.line > 0)
        print_snippet(out, src, d);
    for (int i = 0; i < d->note_count; i++)
        print_text_one(eng, out, &d->notes[i]);
}

/* ---------------------------------------------------------------- JSON output */

/* A UTF-8 character as JSON \u escapes of its code point (a surrogate pair past U+FFFF), so
 * that the output stays ASCII and decodes to the text; other bytes are \u00XX, as before. */
static bool utf8_json(FILE *out, const unsigned char *s) {
    int n = utf8_len(s, 4);
    unsigned cp = utf8_cp(s, n);
    if (cp < 0x80 || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return false; /* overlong or out of range: not text */
    if (cp >= 0x10000)
        fprintf(out, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
    else
        fprintf(out, "\\u%04x", cp);
    return true;
}

static void json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p >= 0x80 && utf8_len(p, 4) > 1 && utf8_json(out, p))
            p += utf8_len(p, 4) - 1;
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* The extra ranges (operands of a binary operator) with their start and end, as a SARIF
 * consumer wants them: every diagnostic has the array, empty when there are none, so that
 * readers need not test for the key. */
static void print_json_ranges(FILE *out, const DaftDiag *d) {
    fputs(",\"ranges\":[", out);
    bool first = true;
    for (int i = 0; i < d->range_count; i++) {
        DaftSpan r = d->ranges[i];
        if (r.file != d->span.file)
            continue; /* positions without a file name would read as the diagnostic's file */
        fprintf(out, "%s{\"line\":%d,\"column\":%d,\"end_line\":%d,\"end_column\":%d}", first ? "" : ",",
                r.begin.line, r.begin.col, r.end.line, r.end.col);
        first = false;
    }
    fputc(']', out);
}

static void print_json_one(DaftDiagEngine *eng, FILE *out, const DaftDiag *d) {
    DaftSource *src = span_source(eng, d->span);
    fputs("{\"severity\":", out);
    json_string(out, daft_severity_name(d->severity));
    fputs(",\"file\":", out);
    if (src)
        json_string(out, src->path);
    else
        fputs("null", out);
    fprintf(out, ",\"line\":%d,\"column\":%d,\"end_line\":%d,\"end_column\":%d,\"message\":",
            d->span.begin.line, d->span.begin.col, d->span.end.line, d->span.end.col);
    json_string(out, d->message);
    print_json_ranges(out, d);
    fputs(",\"notes\":[", out);
    for (int i = 0; i < d->note_count; i++) {
        if (i)
            fputc(',', out);
        print_json_one(eng, out, &d->notes[i]);
    }
    fputs("]}", out);
}

void daft_diag_print(DaftDiagEngine *eng, FILE *out, DaftDiagFormat format) {
    if (format == DAFT_DIAG_JSON) {
        fputs("[", out);
        for (int i = 0; i < eng->len; i++) {
            fputs(i ? ",\n " : "", out);
            print_json_one(eng, out, &eng->diags[i]);
        }
        fputs("]\n", out);
        return;
    }
    for (int i = 0; i < eng->len; i++)
        print_text_one(eng, out, &eng->diags[i]);
    if (eng->error_count == 1)
        fputs("1 error generated.\n", out);
    else if (eng->error_count > 1)
        fprintf(out, "%d errors generated.\n", eng->error_count);
}
