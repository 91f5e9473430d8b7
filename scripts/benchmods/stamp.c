/* The hand-off benchmark's COMMAND (see _handoff.py): prints the wall clock in
 * nanoseconds since the epoch, as `date +%s%N` does, but reads it first thing in main()
 * of a statically linked program, so that the figure does not include what `date` does
 * before it reads the clock (loading libc.so, locale files, the time zone). */
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    unsigned long long ns = (unsigned long long)t.tv_sec * 1000000000ULL + (unsigned long long)t.tv_nsec;
    char buf[24];
    int i = sizeof buf;
    buf[--i] = '\n';
    do {
        buf[--i] = (char)('0' + ns % 10);
        ns /= 10;
    } while (ns);
    return write(1, buf + i, sizeof buf - i) == (ssize_t)(sizeof buf - i) ? 0 : 1;
}
