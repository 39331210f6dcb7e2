/* daft-repl: interactive daft (SPEC.md §18.5). The engine lives in runtime/repl/ (see
 * runtime/repl/repl.h for the design: actor classes compiled to a shared object by daftc's
 * codegen and dlopen'ed, driver statements interpreted against the daftrt API, compiled
 * schedules planned at run time with libdaftplan and run by the compiled executor). */
#include "../runtime/repl/repl.h"

int main(int argc, char **argv) { return repl_main(argc, argv); }
