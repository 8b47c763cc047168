@_exported import VibeVoiceModel
@_exported import VibeVoiceAudio
@_exported import VibeVoiceText
