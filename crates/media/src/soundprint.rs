//! A sound fingerprint (Chromaprint's, by rusty-chromaprint): the decoded sound turned into
//! mono 16-bit samples at Chromaprint's own rate and fed to its fingerprinter, one 32-bit item
//! per ~0.124 s. The same recording re-encoded, trimmed or mixed into a video's sound track
//! gives items that line up (`custodian_core` compares nothing here: the matcher is
//! Chromaprint's own, in the catalog's `/similar`).

use ffmpeg_next as ffmpeg;
use ffmpeg_next::software::resampling;
use rusty_chromaprint::{Configuration, Fingerprinter};

use crate::{ffmpeg_error, MediaError};

/// The configuration every fingerprint is made and compared with (Chromaprint's default).
pub fn configuration() -> Configuration {
    Configuration::preset_test2()
}

/// Feeds decoded frames, of whatever format, to the fingerprinter.
pub(crate) struct SoundPrint {
    printer: Fingerprinter,
    converter: Option<(resampling::Context, ffmpeg::format::Sample, u64, u32)>,
    rate: u32,
}

impl SoundPrint {
    pub(crate) fn new() -> Result<Self, MediaError> {
        let config = configuration();
        let rate = config.sample_rate();
        let mut printer = Fingerprinter::new(&config);
        printer
            .start(rate, 1)
            .map_err(|e| MediaError::Sandbox(format!("starting the sound fingerprint: {e:?}")))?;
        Ok(Self {
            printer,
            converter: None,
            rate,
        })
    }

    /// Adds one decoded frame; a frame that cannot be converted is skipped (the fingerprint
    /// is then shorter, never wrong). The frame is told its channel layout when it does not
    /// say (a WAV's mono), which is why it is borrowed mutably.
    pub(crate) fn feed(&mut self, frame: &mut ffmpeg::frame::Audio) -> Result<(), MediaError> {
        let layout = if frame.channel_layout().bits() != 0 {
            frame.channel_layout()
        } else {
            ffmpeg::ChannelLayout::default(i32::from(frame.channels().max(1)))
        };
        frame.set_channel_layout(layout);
        let key = (frame.format(), layout.bits(), frame.rate());
        let stale = !matches!(&self.converter, Some((_, f, l, r)) if (*f, *l, *r) == key);
        if stale {
            let context = resampling::Context::get(
                frame.format(),
                layout,
                frame.rate(),
                ffmpeg::format::Sample::I16(ffmpeg::format::sample::Type::Packed),
                ffmpeg::ChannelLayout::MONO,
                self.rate,
            )
            .map_err(ffmpeg_error("making the sound fingerprint's resampler"))?;
            self.converter = Some((context, key.0, key.1, key.2));
        }
        let Some((converter, ..)) = &mut self.converter else {
            return Ok(());
        };
        // A fresh output each time: the converter sizes a given frame once, by the first
        // input, and would shrink it to what each call made (to nothing after a call that
        // made nothing, as the first may).
        let mut converted = ffmpeg::frame::Audio::empty();
        if converter.run(frame, &mut converted).is_ok() {
            consume(&mut self.printer, &converted);
        }
        Ok(())
    }

    /// The fingerprint of everything fed (the converter's last few milliseconds, still in its
    /// filter, change nothing a fingerprint can show).
    pub(crate) fn finish(mut self) -> Vec<u32> {
        self.printer.finish();
        self.printer.fingerprint().to_vec()
    }
}

fn consume(printer: &mut Fingerprinter, converted: &ffmpeg::frame::Audio) {
    let samples = converted.samples();
    if samples > 0 {
        let data = converted.plane::<i16>(0);
        printer.consume(&data[..samples.min(data.len())]);
    }
}
