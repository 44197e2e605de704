"""The channel: thesauri that spinners draw from, inverted so that a spun word or phrase gives
the originals that could have produced it.

`sources` reads the raw thesauri at build time (and for the dev-set spinner simulators);
`channel` is the compact run-time table built from them.
"""
