/* Latency probe: the first thing it does is read CLOCK_MONOTONIC (the clock .NET's Stopwatch uses on Linux)
   and report it as the task's result, in nanoseconds. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("##hive {\"result\": {\"startNs\": %lld}}\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return 0;
}
