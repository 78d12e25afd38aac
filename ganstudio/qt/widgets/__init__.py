"""Widgets and graphics items that panels share (plot items, the sample grid view, the latent
explorer's tabs). A panel may import these; panels never import each other."""
