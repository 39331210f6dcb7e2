/* compiler/link.h — compiling the user's kernels and linking executables (internal).
 *
 * link_prepare compiles every source named by `link "file";` in the module (relative to the
 * .daft file) and on daftc's command line: .c with the system C compiler (cc, or $CC),
 * .cu with nvcc; .o, .a and .so are taken as they are. It then checks with `nm` that
 * every `extern` symbol of the module is defined; a missing one is a daftc error at the
 * extern declaration. Each linked .c source is then compiled once more with
 * `-fsyntax-only -include <prototypes>` (the typed kernel ABI of daft/gen.h for every
 * defined extern): a C function whose type differs is a daftc error at the declaration,
 * naming the expected prototype. .cu sources and .o/.a/.so inputs are not type-checked. link_executable links the object daftc emitted with those objects,
 * libdaftgen, libdaftstd, libdaftrt (and the libraries they need: BLAS, MPI, pthread).
 *
 * Where the daft libraries are found, first match wins:
 *   1. $DAFT_LIBDIR (a directory holding libdaftgen.a, libdaftstd.a, libdaftrt.a, ...);
 *   2. the install layout: <prefix>/bin/daftc finds <prefix>/lib/daft/libdaft*.a and the
 *      headers for user kernels in <prefix>/include (daftrt.h, daft/std.h, daft/gen.h);
 *   3. the build tree daftc was built in (paths compiled in by compiler/CMakeLists.txt).
 * $DAFT_LINK_FLAGS adds arguments to the final link; $CC overrides the C compiler.
 */
#ifndef DAFT_LINK_H
#define DAFT_LINK_H

#include <daft/lang.h>

typedef struct LinkJob {
    char tmpdir[256];      /* scratch directory, removed by link_cleanup */
    char **objects;        /* user objects and libraries to link */
    int nobjects, cap;
    bool debug;            /* -g: compile user kernels with -g */
    int opt_level;
} LinkJob;

/* Reports each of the kernel files named on the command line that does not exist, as
 * link_prepare would, for the modes that stop before it (--check, --emit). */
bool link_check_files(const char *const *paths, int n, DaftDiagEngine *diags);

/* Compiles the user's kernels and checks the extern symbols. `extra` are C/CUDA sources
 * or objects given on the command line. Returns false after reporting. */
bool link_prepare(DaftModule *mod, const char *const *extra, int nextra, LinkJob *job,
                  DaftDiagEngine *diags);
/* A path for the object file inside the job's scratch directory. */
const char *link_tmp_path(LinkJob *job, const char *name);
/* Links object + the job's objects + the daft libraries into an executable. */
bool link_executable(LinkJob *job, const char *object, const char *output, DaftDiagEngine *diags);
/* daft-repl: links object + the job's objects into a position-independent shared object
 * WITHOUT the daft libraries (the REPL process provides them: it is linked with
 * -rdynamic and the whole libdaftgen/libdaftstd/libdaftrt). */
bool link_shared(LinkJob *job, const char *object, const char *output, DaftDiagEngine *diags);
/* Removes the scratch directory and frees the job. */
void link_cleanup(LinkJob *job);

#endif /* DAFT_LINK_H */
