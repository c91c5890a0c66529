/* The NAL units of an H.264 Annex-B access unit: where each starts (after its start code) and
 * ends (its trailing zero bytes dropped).
 * pantau/media/start_codes.py says why and holds the same in Python. */
#include <stdint.h>
#include <string.h>

typedef uint8_t bytes16 __attribute__((vector_size(16)));

/* The first "00 00 01" starting at or after p, or NULL: 16 places at a time (GCC's vector
 * extension: SSE2 on x86-64, NEON on ARM), then the one found byte by byte. */
static const uint8_t *next_start_code(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s = p;
    const bytes16 zero = {0}, one = zero + 1;
    while (end - s >= 18) {
        bytes16 first, second, third;
        memcpy(&first, s, 16);
        memcpy(&second, s + 1, 16);
        memcpy(&third, s + 2, 16);
        bytes16 found = (bytes16)((first == zero) & (second == zero) & (third == one));
        uint64_t halves[2];
        memcpy(halves, &found, 16);
        if (halves[0] | halves[1])
            break;
        s += 16;
    }
    for (; end - s >= 3; s++)
        if (s[0] == 0 && s[1] == 0 && s[2] == 1)
            return s;
    return NULL;
}

/* Writes begin, end pairs into bounds (room for max_units units) and returns how many units there
 * are: more than max_units means call again with more room. */
size_t annexb_unit_bounds(const char *text, size_t size, uint32_t *bounds, size_t max_units)
{
    const uint8_t *data = (const uint8_t *)text, *end = data + size;
    const uint8_t *start_code = next_start_code(data, end);
    size_t units = 0;
    while (start_code != NULL) {
        const uint8_t *begin = start_code + 3;
        const uint8_t *next = next_start_code(begin, end);
        const uint8_t *stop = next != NULL ? next : end;
        while (stop > begin && stop[-1] == 0)
            stop--;
        if (stop > begin) {
            if (units < max_units) {
                bounds[2 * units] = (uint32_t)(begin - data);
                bounds[2 * units + 1] = (uint32_t)(stop - data);
            }
            units++;
        }
        start_code = next;
    }
    return units;
}
