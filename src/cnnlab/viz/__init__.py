"""Pictures: confusion matrices, image grids, and (later) filters, feature maps and Grad-CAM."""
