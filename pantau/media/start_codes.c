/* The NAL units of an H.264 Annex-B access unit: where each starts (after its start code) and
 * ends (its trailing zero bytes dropped), found with memchr for the start code's 0x01 byte.
 * pantau/media/start_codes.py says why and holds the same in Python. */
#include <stdint.h>
#include <string.h>

/* The first "00 00 01" starting at or after p, or NULL. */
static const uint8_t *next_start_code(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *q = p + 2;
    while (q < end) {
        q = memchr(q, 1, (size_t)(end - q));
        if (q == NULL)
            return NULL;
        if (q[-1] == 0 && q[-2] == 0)
            return q - 2;
        q += 1;
    }
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
