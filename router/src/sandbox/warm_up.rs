//! A synthetic module the size of a typical capsule, compiled once by each compile thread when
//! it starts.
//!
//! A thread's first compilation pays for faulting in its allocator's memory (about 1 ms of a
//! 4 ms baseline compile here, `docs/benchmarks.md`); compiling this module first moves that
//! cost to the router's start. It owns only the module's bytes and must never be run.

/// Functions in the module: as many as a small capsule has, each in the table (so each gets
/// the entry trampoline an exported or table function gets).
const FUNCTIONS: u32 = 40;
/// Load-add-store groups per function body.
const GROUPS: u32 = 24;

/// The module's bytes: one memory page, `FUNCTIONS` functions `(i32) -> i32` of memory
/// traffic, a loop and a call each, all in one table.
pub(super) fn module() -> Vec<u8> {
    let mut out = b"\0asm\x01\0\0\0".to_vec();
    // Types: (i32) -> i32.
    section(&mut out, 1, &[1, 0x60, 1, 0x7f, 1, 0x7f]);
    // Functions: all of type 0.
    let mut funcs = leb(FUNCTIONS);
    funcs.extend(std::iter::repeat_n(0u8, FUNCTIONS as usize));
    section(&mut out, 3, &funcs);
    // Table: funcref, exactly FUNCTIONS entries.
    let mut table = vec![1, 0x70, 1];
    table.extend(leb(FUNCTIONS));
    table.extend(leb(FUNCTIONS));
    section(&mut out, 4, &table);
    // Memory: one page.
    section(&mut out, 5, &[1, 0, 1]);
    // Elements: every function, from table offset 0.
    let mut elems = vec![1, 0, 0x41, 0, 0x0b];
    elems.extend(leb(FUNCTIONS));
    for f in 0..FUNCTIONS {
        elems.extend(leb(f));
    }
    section(&mut out, 9, &elems);
    // Code.
    let mut code = leb(FUNCTIONS);
    for f in 0..FUNCTIONS {
        let body = body(f);
        code.extend(leb(body.len() as u32));
        code.extend(body);
    }
    section(&mut out, 10, &code);
    out
}

/// Function `f`: a loop of memory traffic on its argument, then a call to the next function
/// when the argument is odd.
fn body(f: u32) -> Vec<u8> {
    // One local i32 besides the parameter.
    let mut b = vec![1, 1, 0x7f];
    // loop (block type empty)
    b.extend([0x03, 0x40]);
    for g in 0..GROUPS {
        // local.get 0; local.get 0; i32.load offset=g*4; local.get 1; i32.add; i32.store offset=g*4+4
        b.extend([0x20, 0, 0x20, 0, 0x28, 2]);
        b.extend(leb(g * 4));
        b.extend([0x20, 1, 0x6a, 0x36, 2]);
        b.extend(leb(g * 4 + 4));
    }
    // local.get 1; i32.const 1; i32.add; local.tee 1; i32.const 8; i32.lt_u; br_if 0; end
    b.extend([
        0x20, 1, 0x41, 1, 0x6a, 0x22, 1, 0x41, 8, 0x49, 0x0d, 0, 0x0b,
    ]);
    // local.get 0; i32.const 1; i32.and; if (result i32) local.get 0; call next; else local.get 1; end
    b.extend([0x20, 0, 0x41, 1, 0x71, 0x04, 0x7f, 0x20, 0, 0x10]);
    b.extend(leb((f + 1) % FUNCTIONS));
    b.extend([0x05, 0x20, 1, 0x0b, 0x0b]);
    b
}

fn section(out: &mut Vec<u8>, id: u8, contents: &[u8]) {
    out.push(id);
    out.extend(leb(contents.len() as u32));
    out.extend_from_slice(contents);
}

fn leb(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_warm_up_module_is_valid_webassembly() {
        let bytes = super::module();
        wasmparser::Validator::new()
            .validate_all(&bytes)
            .expect("valid module");
        assert!(bytes.len() > 4_000, "{} bytes", bytes.len());
    }
}
