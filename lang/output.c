/* Output files with their write errors reported (see daft_output_open in daft/lang.h). */
#include <daft/lang.h>

#include <errno.h>
#include <string.h>

FILE *daft_output_open(const char *path, DaftDiagEngine *diags) {
    if (!path)
        return stdout;
    FILE *out = fopen(path, "w");
    if (!out)
        daft_error(diags, daft_span_none(), "cannot write '%s': %s", path, strerror(errno));
    return out;
}

bool daft_output_close(FILE *out, const char *path, DaftDiagEngine *diags) {
    /* A write that failed earlier left the stream's error flag and its errno (the writers
     * make no other calls that fail); a failing fflush or fclose sets errno itself. */
    bool failed = ferror(out) != 0;
    int err = failed ? errno : 0;
    if (fflush(out) != 0) {
        failed = true;
        err = errno;
    }
    if (out != stdout && fclose(out) != 0 && !failed) {
        failed = true;
        err = errno;
    }
    if (failed) {
        const char *why = err ? strerror(err) : "write error";
        if (path)
            daft_error(diags, daft_span_none(), "cannot write '%s': %s", path, why);
        else
            daft_error(diags, daft_span_none(), "cannot write to standard output: %s", why);
    }
    return !failed;
}
