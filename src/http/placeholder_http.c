/* http: placeholder until the module lands in this change. */
int skiff_http__placeholder;
