/* auth: placeholder until the module lands in this change. */
int skiff_auth__placeholder;
