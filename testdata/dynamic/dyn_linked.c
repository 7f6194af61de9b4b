/* Linked against libdyntls.so without a run path: it runs only when
 * LD_LIBRARY_PATH names the library's directory. */
#include <stdio.h>

int tls_get(void);
void tls_set(int v);

int main(void)
{
	printf("linked tls %d\n", tls_get());
	tls_set(9);
	printf("linked after set %d\n", tls_get());
	return 0;
}
