/* An LD_PRELOAD library: provides a symbol dyn_tls looks up. */
const char *preload_probe(void)
{
	return "loaded";
}
