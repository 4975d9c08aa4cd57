"""Pictures: confusion matrices, image grids, filters, feature maps, Grad-CAM, training curves and trade-offs."""
