/* compiler/codegen.h — native code generation (internal to daftc).
 *
 * The one narrow interface between daftc and LLVM: only compiler/codegen*.c include
 * llvm-c/. cg_emit lowers a checked module (daft_check succeeded) to an LLVM module and
 * writes it as textual IR or as an object file; compiler/link.c then links the object with
 * libdaftgen, libdaftstd, libdaftrt and the user's kernels.
 */
#ifndef DAFT_CODEGEN_H
#define DAFT_CODEGEN_H

#include <daft/lang.h>

typedef enum {
    CG_OUT_LL,  /* textual IR to `output` (or stdout when output is NULL) */
    CG_OUT_OBJ, /* an object file at `output` */
} CgOutput;

typedef struct CgOptions {
    CgOutput output;
    const char *output_path;
    int opt_level;     /* 0 or 2 */
    bool debug_info;   /* DWARF with .daft file and line numbers */
    bool verify;       /* LLVMVerifyModule before optimising (debug builds: always) */
    bool library;      /* daft-repl: no `main`; the DaftGenProgram descriptor is exported as
                          `daft_lib_program` (default visibility) so that a shared object
                          built from the object can be dlopen'ed and its classes registered */
} CgOptions;

/* Returns false after reporting every problem to diags (unsupported constructs are
 * reported at their source position). */
bool cg_emit(DaftModule *mod, const CgOptions *opt, DaftDiagEngine *diags);

#endif /* DAFT_CODEGEN_H */
