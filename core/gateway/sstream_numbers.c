/*  =========================================================================
    sstream_numbers - numbers for what a gateway keeps

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================
*/

#include "sstream_gateway_classes.h"

#define SLOTS_MAX 0xffff
#define S_SLOT(number) ((number) & 0xffff)
#define S_GENERATION(number) ((uint16_t) ((number) >> 16))

struct _sstream_numbers_t {
    size_t max;
    void **items;               //  By slot; slot 0 unused
    uint16_t *generations;
    size_t size;                //  Slots in the table, slot 0 included
    size_t next;                //  Where the search for a free one starts
};

sstream_numbers_t *
sstream_numbers_new (size_t max)
{
    assert (max >= 1 && max <= SLOTS_MAX);
    sstream_numbers_t *self = (sstream_numbers_t *) zmalloc (sizeof (sstream_numbers_t));
    if (self)
        self->max = max;
    return self;
}

void
sstream_numbers_destroy (sstream_numbers_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->items);
        free ((*self_p)->generations);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Room for more slots: twice as many, up to max
static bool
s_grow (sstream_numbers_t *self)
{
    size_t size = self->size? 2 * self->size: 64;
    if (size > self->max + 1)
        size = self->max + 1;
    if (size <= self->size)
        return false;
    void **items = (void **) realloc (self->items, size * sizeof (void *));
    if (!items)
        return false;
    self->items = items;
    uint16_t *generations = (uint16_t *) realloc (self->generations, size * sizeof (uint16_t));
    if (!generations)
        return false;
    self->generations = generations;
    size_t slot;
    for (slot = self->size; slot < size; slot++) {
        self->items [slot] = NULL;
        self->generations [slot] = 0;
    }
    self->next = self->size? self->size - 1: 0;
    self->size = size;
    return true;
}

uint32_t
sstream_numbers_take (sstream_numbers_t *self, void *item)
{
    while (true) {
        size_t slots = self->size? self->size - 1: 0, tried;
        for (tried = 0; tried < slots; tried++) {
            size_t slot = 1 + (self->next + tried) % slots;
            if (!self->items [slot]) {
                self->next = slot % slots;
                self->items [slot] = item;
                return (uint32_t) ++self->generations [slot] << 16 | (uint32_t) slot;
            }
        }
        if (!s_grow (self))
            return 0;
    }
}

void
sstream_numbers_put (sstream_numbers_t *self, uint32_t number, void *item)
{
    uint32_t slot = S_SLOT (number);
    assert (slot && slot < self->size && self->generations [slot] == S_GENERATION (number));
    self->items [slot] = item;
}

void *
sstream_numbers_find (sstream_numbers_t *self, uint32_t number)
{
    uint32_t slot = S_SLOT (number);
    if (slot == 0 || slot >= self->size || self->generations [slot] != S_GENERATION (number))
        return NULL;
    return self->items [slot];
}

void
sstream_numbers_give (sstream_numbers_t *self, uint32_t number)
{
    uint32_t slot = S_SLOT (number);
    if (slot && slot < self->size && self->generations [slot] == S_GENERATION (number))
        self->items [slot] = NULL;
}
