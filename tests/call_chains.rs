//! Long chains of `#[effect]` fns compile and run. Each fn's body is reached, at compile
//! time, from the fn that builds it, never through one of the runtime's generic functions: a
//! chain of 200 fns, each calling the next, is 200 distinct functions for the compiler to
//! instantiate, not one generic function 200 levels deep (past its recursion limit of 128).
//! The fns are defined callers first, which is the order that walked that generic function
//! deepest; each level binds the next through a different form of the DSL.

use effect::prelude::*;

/// `call a -> b`: `a` binds `b`; `par`, `race` and `catch` bind it inside a `par!` branch, a
/// `race!` branch and a `catch!` arm.
macro_rules! chain {
    ($($form:ident $name:ident -> $next:ident;)*) => { $(chain!(@ $form $name $next);)* };
    (@ call $name:ident $next:ident) => {
        #[effect]
        fn $name(depth: u64) -> Effect<u64, String> {
            $next(depth)? + 1
        }
    };
    (@ par $name:ident $next:ident) => {
        #[effect]
        fn $name(depth: u64) -> Effect<u64, String> {
            let (below, zero) = par!({ $next(depth)? + 1 }, succeed(0))?;
            below + zero
        }
    };
    (@ race $name:ident $next:ident) => {
        #[effect]
        fn $name(depth: u64) -> Effect<u64, String> {
            race!({ $next(depth)? + 1 }, never())?
        }
    };
    (@ catch $name:ident $next:ident) => {
        #[effect]
        fn $name(depth: u64) -> Effect<u64, String> {
            catch!(fail::<u64, String>("recovered".into()), {
                message if message == "recovered" => $next(depth)? + 1,
            })?
        }
    };
}

chain! {
    call level0 -> level1;
    par level1 -> level2;
    race level2 -> level3;
    catch level3 -> level4;
    call level4 -> level5;
    par level5 -> level6;
    race level6 -> level7;
    catch level7 -> level8;
    call level8 -> level9;
    par level9 -> level10;
    race level10 -> level11;
    catch level11 -> level12;
    call level12 -> level13;
    par level13 -> level14;
    race level14 -> level15;
    catch level15 -> level16;
    call level16 -> level17;
    par level17 -> level18;
    race level18 -> level19;
    catch level19 -> level20;
    call level20 -> level21;
    par level21 -> level22;
    race level22 -> level23;
    catch level23 -> level24;
    call level24 -> level25;
    par level25 -> level26;
    race level26 -> level27;
    catch level27 -> level28;
    call level28 -> level29;
    par level29 -> level30;
    race level30 -> level31;
    catch level31 -> level32;
    call level32 -> level33;
    par level33 -> level34;
    race level34 -> level35;
    catch level35 -> level36;
    call level36 -> level37;
    par level37 -> level38;
    race level38 -> level39;
    catch level39 -> level40;
    call level40 -> level41;
    par level41 -> level42;
    race level42 -> level43;
    catch level43 -> level44;
    call level44 -> level45;
    par level45 -> level46;
    race level46 -> level47;
    catch level47 -> level48;
    call level48 -> level49;
    par level49 -> level50;
    race level50 -> level51;
    catch level51 -> level52;
    call level52 -> level53;
    par level53 -> level54;
    race level54 -> level55;
    catch level55 -> level56;
    call level56 -> level57;
    par level57 -> level58;
    race level58 -> level59;
    catch level59 -> level60;
    call level60 -> level61;
    par level61 -> level62;
    race level62 -> level63;
    catch level63 -> level64;
    call level64 -> level65;
    par level65 -> level66;
    race level66 -> level67;
    catch level67 -> level68;
    call level68 -> level69;
    par level69 -> level70;
    race level70 -> level71;
    catch level71 -> level72;
    call level72 -> level73;
    par level73 -> level74;
    race level74 -> level75;
    catch level75 -> level76;
    call level76 -> level77;
    par level77 -> level78;
    race level78 -> level79;
    catch level79 -> level80;
    call level80 -> level81;
    par level81 -> level82;
    race level82 -> level83;
    catch level83 -> level84;
    call level84 -> level85;
    par level85 -> level86;
    race level86 -> level87;
    catch level87 -> level88;
    call level88 -> level89;
    par level89 -> level90;
    race level90 -> level91;
    catch level91 -> level92;
    call level92 -> level93;
    par level93 -> level94;
    race level94 -> level95;
    catch level95 -> level96;
    call level96 -> level97;
    par level97 -> level98;
    race level98 -> level99;
    catch level99 -> level100;
    call level100 -> level101;
    par level101 -> level102;
    race level102 -> level103;
    catch level103 -> level104;
    call level104 -> level105;
    par level105 -> level106;
    race level106 -> level107;
    catch level107 -> level108;
    call level108 -> level109;
    par level109 -> level110;
    race level110 -> level111;
    catch level111 -> level112;
    call level112 -> level113;
    par level113 -> level114;
    race level114 -> level115;
    catch level115 -> level116;
    call level116 -> level117;
    par level117 -> level118;
    race level118 -> level119;
    catch level119 -> level120;
    call level120 -> level121;
    par level121 -> level122;
    race level122 -> level123;
    catch level123 -> level124;
    call level124 -> level125;
    par level125 -> level126;
    race level126 -> level127;
    catch level127 -> level128;
    call level128 -> level129;
    par level129 -> level130;
    race level130 -> level131;
    catch level131 -> level132;
    call level132 -> level133;
    par level133 -> level134;
    race level134 -> level135;
    catch level135 -> level136;
    call level136 -> level137;
    par level137 -> level138;
    race level138 -> level139;
    catch level139 -> level140;
    call level140 -> level141;
    par level141 -> level142;
    race level142 -> level143;
    catch level143 -> level144;
    call level144 -> level145;
    par level145 -> level146;
    race level146 -> level147;
    catch level147 -> level148;
    call level148 -> level149;
    par level149 -> level150;
    race level150 -> level151;
    catch level151 -> level152;
    call level152 -> level153;
    par level153 -> level154;
    race level154 -> level155;
    catch level155 -> level156;
    call level156 -> level157;
    par level157 -> level158;
    race level158 -> level159;
    catch level159 -> level160;
    call level160 -> level161;
    par level161 -> level162;
    race level162 -> level163;
    catch level163 -> level164;
    call level164 -> level165;
    par level165 -> level166;
    race level166 -> level167;
    catch level167 -> level168;
    call level168 -> level169;
    par level169 -> level170;
    race level170 -> level171;
    catch level171 -> level172;
    call level172 -> level173;
    par level173 -> level174;
    race level174 -> level175;
    catch level175 -> level176;
    call level176 -> level177;
    par level177 -> level178;
    race level178 -> level179;
    catch level179 -> level180;
    call level180 -> level181;
    par level181 -> level182;
    race level182 -> level183;
    catch level183 -> level184;
    call level184 -> level185;
    par level185 -> level186;
    race level186 -> level187;
    catch level187 -> level188;
    call level188 -> level189;
    par level189 -> level190;
    race level190 -> level191;
    catch level191 -> level192;
    call level192 -> level193;
    par level193 -> level194;
    race level194 -> level195;
    catch level195 -> level196;
    call level196 -> level197;
    par level197 -> level198;
    race level198 -> level199;
    catch level199 -> bottom;
}

#[effect]
fn bottom(depth: u64) -> Effect<u64, String> {
    depth
}

#[effect::test]
fn a_chain_of_200_effect_fns_defined_callers_first_compiles_and_runs() -> Effect<(), String> {
    assert_eq!(level0(1)?, 200 + 1);
}
