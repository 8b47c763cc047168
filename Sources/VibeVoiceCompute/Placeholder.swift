public enum VibeVoiceComputeInfo {}
