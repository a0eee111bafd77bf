"""eSpeak NG text-to-speech through ctypes, in synchronous mode: text -> 16-bit samples at 22050 Hz.

The library and its voice data come from the `espeakng-loader` wheel, so nothing needs installing system-wide.
eSpeak keeps its state in process-wide globals: one synthesiser per process, used from one thread. Its output
is reproducible only in part: random draws (breathy voices, Klatt noise) follow seeds that `synthesize` sets,
but the waveform generator also carries state from one utterance into the next (samples differ after a
different previous utterance). A sequence of utterances is therefore byte-identical only when it is spoken
in the same order by a fresh process.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: espeak_Synth returns when all samples went to the callback
INITIALIZE_DONT_EXIT = 0x8000  # report a missing data folder instead of calling exit()
POS_CHARACTER = 1
CHARS_UTF8 = 1
EE_OK = 0
PARAMETER_RATE, PARAMETER_PITCH, PARAMETER_RANGE = 1, 3, 4  # espeak_PARAMETER
# int callback(short *samples, int num_samples, espeak_EVENT *events); a non-zero return aborts synthesis
SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class ESpeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class Prosody:
    """eSpeak's speech parameters: rate in words per minute (80-450), pitch and pitch range (0-100, where
    50 is the voice's own)."""

    rate: int = 175
    pitch: int = 50
    range: int = 50


class ESpeak:
    """The process's eSpeak NG synthesiser (get it with `espeak()`)."""

    def __init__(self):
        import espeakng_loader  # the wheel that ships libespeak-ng and espeak-ng-data

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.libc = ctypes.CDLL(None)  # the Klatt voices draw noise from the C library's rand()
        self.declare_signatures()
        data_path = espeakng_loader.get_data_path()
        self.sample_rate = self.lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(),
                                                      INITIALIZE_DONT_EXIT)
        if self.sample_rate <= 0:
            raise ESpeakError(f"eSpeak NG could not be initialised with its data in {data_path}")
        self.chunks: list[np.ndarray] = []
        self.callback = SYNTH_CALLBACK(self.collect)  # kept referenced: eSpeak calls it until the process ends
        self.lib.espeak_SetSynthCallback(self.callback)

    def declare_signatures(self) -> None:
        lib = self.lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]

    def collect(self, samples, num_samples: int, events) -> int:
        if num_samples > 0:
            self.chunks.append(np.ctypeslib.as_array(samples, shape=(num_samples,)).copy())
        return 0

    def synthesize(self, text: str, voice: str, prosody: Prosody = Prosody(), seed: int = 0) -> np.ndarray:
        """Speak `text` with `voice` (a language, optionally with a variant: "en-us", "en+m3") -> int16 samples
        (samples,) at `sample_rate`. `seed` seeds the random draws of breathy and Klatt voices."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
            raise ESpeakError(f"eSpeak NG has no voice {voice!r} (a language such as en-us, optionally "
                              "+variant such as +m3)")
        for parameter, value in ((PARAMETER_RATE, prosody.rate), (PARAMETER_PITCH, prosody.pitch),
                                 (PARAMETER_RANGE, prosody.range)):
            self.lib.espeak_SetParameter(parameter, value, 0)
        self.lib.espeak_ng_SetRandSeed(seed)
        self.libc.srand(seed)
        self.chunks = []
        encoded = text.encode()
        status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None)
        if status != EE_OK:
            raise ESpeakError(f"eSpeak NG failed (status {status}) to speak {text!r} with voice {voice!r}")
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)


@lru_cache(maxsize=1)
def espeak() -> ESpeak:
    """This process's synthesiser, initialised on first use."""
    return ESpeak()
