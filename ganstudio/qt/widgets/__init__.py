"""Widgets and graphics items that panels share (plot items, the plots' tabs, compared runs and
their layer, the sample grid view, the latent explorer's tabs). A panel may import these; panels
never import each other."""
