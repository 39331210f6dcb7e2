/* Placeholder until semantic analysis lands: accepts every parsed program. */
#include <daft/lang.h>

bool daft_check(DaftModule *mod, DaftDiagEngine *diags) {
    (void)mod;
    return diags->error_count == 0;
}
