/* adtool's addition to pycparser's fake assert.h (frontend/c_pre.py): what
   numerical codes use from the real one, with glibc's values. */
#include_next <assert.h>
/* assert(e): the front end reads __adtool_assert as `if (!(e))` print the
   message and exit(1) */
#undef assert
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
#define assert(e) __adtool_assert((e), #e)
#endif
