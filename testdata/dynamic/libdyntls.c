/* The shared library dyn_tls opens: thread-local state, one variable
 * initialised and one large block, so its TLS needs a real block. */
__thread int tls_var = 7;
static __thread char block[8192] = {1};

int tls_get(void)
{
	return tls_var + block[0] - 1 + block[8191];
}

void tls_set(int v)
{
	tls_var = v;
}
