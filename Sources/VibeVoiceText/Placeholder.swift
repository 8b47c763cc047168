public enum VibeVoiceTextInfo {}
