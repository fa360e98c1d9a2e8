/* resource: placeholder until the module lands in this change. */
int skiff_resource__placeholder;
