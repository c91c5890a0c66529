"""What the picture says: keyframe tiles, picture health and tamper checks, reference views."""
