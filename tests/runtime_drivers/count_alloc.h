/* Force-included (gcc -include) when compiling adstack.c for the block
   test: routes its malloc/free through counters so the test can see how
   many blocks exist, which is the only observable trace of the spare-block
   policy. stdlib.h comes first so its own prototypes are not renamed. */
#include <stdlib.h>
void *counted_malloc(size_t n);
void counted_free(void *p);
#define malloc counted_malloc
#define free counted_free
