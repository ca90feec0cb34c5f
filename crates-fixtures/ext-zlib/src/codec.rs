//! A run-length codec: pairs of (run length 1..=255, byte).

pub fn encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 2);
    let mut iter = data.iter().copied().peekable();
    while let Some(byte) = iter.next() {
        let mut run = 1u8;
        while run < u8::MAX && iter.peek() == Some(&byte) {
            iter.next();
            run += 1;
        }
        out.push(run);
        out.push(byte);
    }
    out
}

pub fn decode(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for pair in data.chunks_exact(2) {
        if pair[0] == 0 {
            return None;
        }
        out.extend(std::iter::repeat(pair[1]).take(usize::from(pair[0])));
    }
    Some(out)
}
