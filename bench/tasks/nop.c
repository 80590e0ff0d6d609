/* Trivial task: exits at once (per-task overhead). */
int main(void) { return 0; }
