/*  =========================================================================
    sstream_numbers - numbers for what a gateway keeps (its streams, its
    tunnel connections), for the other side to name them by (private)

    Copyright the sstream authors. Licensed under the Apache License 2.0.
    =========================================================================

    A number is a table slot (from 1) in its low 16 bits and the slot's
    generation above, so that it is found without a search, and a number
    of something gone finds nothing, even once its slot is taken again.
*/

#ifndef SSTREAM_NUMBERS_H_INCLUDED
#define SSTREAM_NUMBERS_H_INCLUDED

typedef struct _sstream_numbers_t sstream_numbers_t;

//  At most max at once (1 to 65535); the table grows to it as needed.
sstream_numbers_t *
    sstream_numbers_new (size_t max);

void
    sstream_numbers_destroy (sstream_numbers_t **self_p);

//  A number for item (not NULL), or 0 when max are taken.
uint32_t
    sstream_numbers_take (sstream_numbers_t *self, void *item);

//  Make a taken number name item (taken for a placeholder, say, when the
//  item needs its number to be made).
void
    sstream_numbers_put (sstream_numbers_t *self, uint32_t number, void *item);

//  What number names now, or NULL.
void *
    sstream_numbers_find (sstream_numbers_t *self, uint32_t number);

//  The item is gone: its number names nothing from now on.
void
    sstream_numbers_give (sstream_numbers_t *self, uint32_t number);

#endif
