/* Output flood: prints args.lines lines (default 2,000,000) to stdout, fully buffered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    long lines = 2000000;
    const char *key = argc > 1 ? strstr(argv[1], "\"lines\":") : NULL;
    if (key) lines = strtol(key + strlen("\"lines\":"), NULL, 10);
    static char buffer[1 << 16];
    setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    for (long i = 1; i <= lines; i++) printf("line %ld of the output flood benchmark\n", i);
    return 0;
}
