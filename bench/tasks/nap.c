/* Sleeps for args.seconds (argv[1] = {"requestId": ..., "action": {"seconds": S}}), like `sleep S`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
    double seconds = 1.0;
    const char *key = argc > 1 ? strstr(argv[1], "\"seconds\":") : NULL;
    if (key) seconds = strtod(key + strlen("\"seconds\":"), NULL);
    struct timespec ts = { (time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9) };
    while (nanosleep(&ts, &ts) != 0) { }
    return 0;
}
