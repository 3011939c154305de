#include <stdio.h>

int main(void) {
    printf("OK");
    return 0;
}