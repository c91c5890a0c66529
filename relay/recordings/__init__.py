"""Recordings for people: listing with gaps, HLS VOD playback, export with proof, holds, the site key."""
