/* daft-repl: interactive daft. Until the REPL issue lands it says so plainly and fails,
 * rather than pretending to evaluate anything. */
#include <daft/lang.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("daft-repl %s\n", DAFT_VERSION);
            return 0;
        }
    }
    fputs("daft-repl: not yet implemented (interpreted DAFT arrives with the REPL issue);\n"
          "use 'daftc --check FILE' to check a program.\n",
          stderr);
    return 1;
}
