/* store: placeholder until the module lands in this change. */
int skiff_store__placeholder;
